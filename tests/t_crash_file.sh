#!/usr/bin/env bash
# The kill -9 crash test with the contents in a file:///DIR data tier.
CRASH_TIER=file ROUNDS=${ROUNDS:-8} exec "$(dirname "$0")/t_crash.sh"
