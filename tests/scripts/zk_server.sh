#!/usr/bin/env bash
# zk_server.sh — private Apache ZooKeeper servers for tests, on 127.0.0.1
# only, each with its own zoo.cfg and dataDir under DIR (nothing global).
#
#   zk_server.sh start DIR PORT          one standalone server on PORT
#   zk_server.sh ensemble DIR BASE       3 servers: client ports BASE+1..3,
#                                        quorum BASE+11..13, election BASE+21..23
#   zk_server.sh stop DIR                stop every server started in DIR
#   zk_server.sh kill DIR [N]            kill -9 server N (ensemble) or the one
#   zk_server.sh restart DIR [N]         start it again (same dataDir)
#   zk_server.sh leader DIR              print N of the ensemble's leader
#   zk_server.sh cmd PORT WORD           send a four-letter word (srvr, wchs…)
#
# tickTime is 500 ms so that tests can ask for short sessions (the server
# allows 2–20 ticks: 1–10 s).  admin.enableServer=false keeps Jetty from
# binding 0.0.0.0:8080.
set -u
CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-handler.jar:/usr/share/java/netty-common.jar:/usr/share/java/netty-buffer.jar:/usr/share/java/netty-transport.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/netty-transport-native-epoll.jar:/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/commons-cli.jar:/usr/share/java/commons-io.jar:/usr/share/java/metrics-core.jar:/usr/share/java/snappy-java.jar

zk_cmd() { # PORT WORD → reply on stdout (empty if no server)
	local port=$1 word=$2
	( exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
	  printf '%s' "$word" >&3
	  timeout 5 cat <&3 ) 2>/dev/null
}

write_cfg() { # NODE_DIR PORT [SERVERS...]
	local d=$1 port=$2
	shift 2
	mkdir -p "$d/data"
	cat >"$d/zoo.cfg" <<CFG
tickTime=500
initLimit=20
syncLimit=10
dataDir=$d/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr,stat,wchs,wchc,cons
maxClientCnxns=200
autopurge.purgeInterval=0
CFG
	for s in "$@"; do echo "$s" >>"$d/zoo.cfg"; done
}

launch() { # NODE_DIR
	local d=$1
	if [ -n "$(zk_cmd "$(node_port "$d")" ruok)" ]; then
		echo "zk_server.sh: port $(node_port "$d") already in use" >&2
		return 1
	fi
	# the JVM's own log goes to a file; -Dzookeeper.root.logger is for log4j
	# only, slf4j-simple logs WARN and up to stderr
	nohup java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		-Dzookeeper.admin.enableServer=false \
		-cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain \
		"$d/zoo.cfg" >"$d/server.log" 2>&1 </dev/null &
	echo $! >"$d/pid"
}

wait_serving() { # PORT SECONDS
	local port=$1 end=$(( $(date +%s) + $2 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		if zk_cmd "$port" srvr | grep -q '^Mode:'; then return 0; fi
		sleep 0.3
	done
	echo "zk_server.sh: ZooKeeper on 127.0.0.1:$port not serving after $2 s" >&2
	return 1
}

node_port() { sed -n 's/^clientPort=//p' "$1/zoo.cfg"; }

nodes() { # DIR → node dirs
	local dir=$1
	if [ -f "$dir/zoo.cfg" ]; then echo "$dir"; else ls -d "$dir"/n[0-9] 2>/dev/null; fi
}

node_dir() { # DIR [N]
	if [ -n "${2:-}" ]; then echo "$1/n$2"; else echo "$1"; fi
}

case "${1:-}" in
start)
	dir=$2 port=$3
	write_cfg "$dir" "$port"
	launch "$dir" && wait_serving "$port" 60
	;;
ensemble)
	dir=$2 base=$3
	servers=()
	for n in 1 2 3; do
		servers+=("server.$n=127.0.0.1:$((base + 10 + n)):$((base + 20 + n))")
	done
	for n in 1 2 3; do
		write_cfg "$dir/n$n" $((base + n)) "${servers[@]}"
		echo "$n" >"$dir/n$n/data/myid"
	done
	for n in 1 2 3; do launch "$dir/n$n" || exit 1; done
	for n in 1 2 3; do wait_serving $((base + n)) 90 || exit 1; done
	;;
stop)
	for d in $(nodes "$2"); do
		[ -f "$d/pid" ] || continue
		pid=$(cat "$d/pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		rm -f "$d/pid"
	done
	;;
kill)
	d=$(node_dir "$2" "${3:-}")
	[ -f "$d/pid" ] && kill -9 "$(cat "$d/pid")" 2>/dev/null
	rm -f "$d/pid"
	;;
restart)
	d=$(node_dir "$2" "${3:-}")
	launch "$d" || exit 1
	if [ -z "${3:-}" ]; then wait_serving "$(node_port "$d")" 60; fi
	;;
leader)
	for n in 1 2 3; do
		p=$(node_port "$2/n$n")
		if zk_cmd "$p" srvr | grep -q '^Mode: leader'; then echo "$n"; exit 0; fi
	done
	exit 1
	;;
cmd)
	zk_cmd "$2" "$3"
	;;
*)
	sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
