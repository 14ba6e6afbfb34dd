# Shared by the bench/ scripts (sourced, not run).

# replace_block FILE TAG CONTENTFILE: replace the lines between
# "<!-- BEGIN TAG -->" and "<!-- END TAG -->" in FILE with CONTENTFILE,
# or append such a block if FILE has none, so that each script owns one
# section of docs/benchmarks.md and re-running it refreshes only that.
replace_block() {
	local f=$1 tag=$2 content=$3 tmp
	tmp=$(mktemp)
	if grep -q "^<!-- BEGIN $tag -->\$" "$f"; then
		awk -v tag="$tag" -v cf="$content" '
			$0 == "<!-- BEGIN " tag " -->" { print; while ((getline l < cf) > 0) print l; skip = 1; next }
			$0 == "<!-- END " tag " -->" { skip = 0 }
			!skip { print }' "$f" >"$tmp"
	else
		{ cat "$f"; printf '\n<!-- BEGIN %s -->\n' "$tag"; cat "$content"; printf '<!-- END %s -->\n' "$tag"; } >"$tmp"
	fi
	cat "$tmp" >"$f"
	rm -f "$tmp"
}

# write_docs ROOT TAG TEXT: put TEXT into docs/benchmarks.md (created if
# missing) and into README.md too if README.md already has the TAG markers.
write_docs() {
	local root=$1 tag=$2 text=$3 doc content
	doc=$root/docs/benchmarks.md
	mkdir -p "$root/docs"
	[ -f "$doc" ] || printf '# CassaFS benchmarks\n\nWritten by the scripts in bench/ with `--write-docs`; re-run them to refresh a section.\n' >"$doc"
	content=$(mktemp)
	printf '%s\n' "$text" >"$content"
	replace_block "$doc" "$tag" "$content"
	echo "wrote $doc" >&2
	if [ -f "$root/README.md" ] && grep -q "^<!-- BEGIN $tag -->\$" "$root/README.md"; then
		replace_block "$root/README.md" "$tag" "$content"
		echo "updated README.md" >&2
	fi
	rm -f "$content"
}
