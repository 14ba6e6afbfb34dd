/*
 * metrics_http.c — the metrics endpoint of a mount (libmicrohttpd, one
 * internal polling thread).  Every answer is built from a fresh
 * metrics_snapshot plus, for usage and live mounts, one read transaction
 * and one coordinator listing per request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "metrics.h"
#include "metrics_http.h"
#include "store.h"

struct metrics_http {
	struct MHD_Daemon *d;
	struct meta *m;
	struct coord *c;
	char *mountpoint;
	char addr_file[512];
	time_t started;
};

void metrics_addr_file(const char *mountpoint, char *out, size_t len)
{
	/* beside the mount's pid file (cli.c), same name, .metrics */
	char dir[64];
	if (getuid() == 0)
		snprintf(dir, sizeof(dir), "/run/cassafs");
	else
		snprintf(dir, sizeof(dir), "/tmp/cassafs-%u", (unsigned)getuid());
	mkdir(dir, 0755);
	snprintf(out, len, "%s/%016llx.metrics", dir,
		 (unsigned long long)meta_name_cookie(mountpoint,
						      strlen(mountpoint)));
}

struct usage {
	uint64_t inodes, blocks, next_ino;
};

static int usage_txn(struct store_txn *t, void *arg)
{
	struct usage *u = arg;
	return meta_usage(t, &u->inodes, &u->blocks, &u->next_ino);
}

static int add_mount(void *arg, const struct coord_mount_info *mi)
{
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
	/* names may hold bytes that are not UTF-8: json_string refuses them */
	json_t *mp = json_string(mi->mountpoint);
	json_object_set_new(o, "host", json_string(mi->host));
	json_object_set_new(o, "pid", json_integer(mi->pid));
	json_object_set_new(o, "mountpoint", mp ? mp : json_string("?"));
	json_object_set_new(o, "since", json_integer(mi->since));
	json_object_set_new(o, "version", json_string(mi->version));
	return json_array_append_new(arg, o) < 0 ? -ENOMEM : 0;
}

static json_t *stats_json(struct metrics_http *h)
{
	struct metrics_snapshot s;
	struct usage u = {0};
	const struct meta_super *sb = meta_super(h->m);
	metrics_snapshot(&s);
	int ur = meta_read(h->m, usage_txn, &u);
	json_t *o = json_object(), *ops = json_object(), *ctr = json_object(),
	       *bounds = json_array(), *mounts = json_array();
	if (!o || !ops || !ctr || !bounds || !mounts) {
		json_decref(o);
		json_decref(ops);
		json_decref(ctr);
		json_decref(bounds);
		json_decref(mounts);
		return NULL;
	}
	json_t *mp = json_string(h->mountpoint);
	json_object_set_new(o, "filesystem", json_string(meta_store(h->m)->url));
	json_object_set_new(o, "uuid", json_string(sb->uuid));
	json_object_set_new(o, "mountpoint", mp ? mp : json_string("?"));
	json_object_set_new(o, "version", json_string(CASSAFS_VERSION));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "block_size", json_integer(sb->block_size));
	/* rates are measured between samples by the server's clock (a
	 * browser's may run at another speed, e.g. headless virtual time) */
	json_object_set_new(o, "sampled_ms",
			    json_integer((json_int_t)(metrics_now_ns() / 1000000)));
	json_object_set_new(o, "uptime_seconds",
			    json_integer(time(NULL) - h->started));
	if (ur == 0) {
		json_object_set_new(o, "inodes_used", json_integer((json_int_t)u.inodes));
		json_object_set_new(o, "bytes_used",
				    json_integer((json_int_t)(u.blocks * sb->block_size)));
	}
	if (coord_list_mounts(h->c, add_mount, mounts) < 0) {
		json_decref(mounts);
		mounts = json_null();
	}
	json_object_set_new(o, "mounts", mounts);
	for (int i = 0; i < METRICS_BUCKETS - 1; i++)
		json_array_append_new(bounds, json_integer((json_int_t)metrics_bucket_ns[i]));
	json_object_set_new(o, "bucket_bounds_ns", bounds);
	for (int i = 0; i < MC_COUNT; i++)
		json_object_set_new(ctr, metrics_counter_names[i],
				    json_integer((json_int_t)s.counter[i]));
	json_object_set_new(o, "counters", ctr);
	for (int i = 0; i < MG_COUNT; i++)
		if (s.gauge_set[i])
			json_object_set_new(o, metrics_gauge_names[i],
					    json_integer(s.gauge[i]));
	for (int op = 0; op < MOP_COUNT; op++) {
		if (!s.op[op].count)
			continue;
		json_t *b = json_array();
		for (int i = 0; i < METRICS_BUCKETS; i++)
			json_array_append_new(b, json_integer((json_int_t)s.op[op].bucket[i]));
		json_object_set_new(ops, metrics_op_names[op],
				    json_pack("{s:I, s:I, s:I, s:o}", "count",
					      (json_int_t)s.op[op].count, "sum_ns",
					      (json_int_t)s.op[op].sum_ns,
					      "round_trips",
					      (json_int_t)s.op_round_trips[op],
					      "buckets", b));
	}
	json_object_set_new(o, "ops", ops);
	json_t *rb = json_array();
	for (int i = 0; i < METRICS_BUCKETS; i++)
		json_array_append_new(rb, json_integer((json_int_t)s.round_trip.bucket[i]));
	json_object_set_new(o, "round_trip",
			    json_pack("{s:I, s:I, s:I, s:o}", "count",
				      (json_int_t)s.round_trip.count, "sum_ns",
				      (json_int_t)s.round_trip.sum_ns,
				      "outside_requests",
				      (json_int_t)s.op_round_trips[MOP_COUNT],
				      "buckets", rb));
	return o;
}

/* One histogram's _bucket (cumulative), _sum and _count lines. */
static void write_histogram(FILE *f, const char *name, const char *label,
			    const struct metrics_op_stat *h)
{
	uint64_t acc = 0;
	const char *sep = *label ? "," : "";
	for (int i = 0; i < METRICS_BUCKETS; i++) {
		acc += h->bucket[i];
		if (i < METRICS_BUCKETS - 1)
			fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label,
				sep, metrics_bucket_ns[i] / 1e9,
				(unsigned long long)acc);
		else
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label,
				sep, (unsigned long long)acc);
	}
	fprintf(f, "%s_sum%s%s%s %.9f\n%s_count%s%s%s %llu\n", name,
		*label ? "{" : "", label, *label ? "}" : "", h->sum_ns / 1e9, name,
		*label ? "{" : "", label, *label ? "}" : "",
		(unsigned long long)h->count);
}

/* Prometheus text exposition format 0.0.4 */
static char *prometheus_text(struct metrics_http *h, size_t *len)
{
	struct metrics_snapshot s;
	struct usage u = {0};
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	metrics_snapshot(&s);
	const struct meta_super *sb = meta_super(h->m);
	fprintf(f, "# HELP cassafs_info The mount: filesystem uuid, version.\n"
		   "# TYPE cassafs_info gauge\n"
		   "cassafs_info{uuid=\"%s\",version=\"%s\"} 1\n",
		sb->uuid, CASSAFS_VERSION);
	fprintf(f, "# HELP cassafs_uptime_seconds Seconds since the mount began.\n"
		   "# TYPE cassafs_uptime_seconds gauge\n"
		   "cassafs_uptime_seconds %lld\n",
		(long long)(time(NULL) - h->started));
	if (meta_read(h->m, usage_txn, &u) == 0)
		fprintf(f, "# HELP cassafs_inodes_used Live inodes.\n"
			   "# TYPE cassafs_inodes_used gauge\n"
			   "cassafs_inodes_used %llu\n"
			   "# HELP cassafs_used_bytes Bytes in stored blocks.\n"
			   "# TYPE cassafs_used_bytes gauge\n"
			   "cassafs_used_bytes %llu\n",
			(unsigned long long)u.inodes,
			(unsigned long long)(u.blocks * sb->block_size));
	int mounts = 0;
	json_t *ml = json_array();
	if (ml && coord_list_mounts(h->c, add_mount, ml) == 0)
		mounts = (int)json_array_size(ml);
	json_decref(ml);
	fprintf(f, "# HELP cassafs_live_mounts Mounts the coordinator lists.\n"
		   "# TYPE cassafs_live_mounts gauge\n"
		   "cassafs_live_mounts %d\n", mounts);
	for (int i = 0; i < MC_COUNT; i++)
		fprintf(f, "# HELP cassafs_%s %s\n# TYPE cassafs_%s counter\n"
			   "cassafs_%s %llu\n",
			metrics_counter_names[i], metrics_counter_help[i],
			metrics_counter_names[i], metrics_counter_names[i],
			(unsigned long long)s.counter[i]);
	for (int i = 0; i < MG_COUNT; i++)
		if (s.gauge_set[i])
			fprintf(f, "# HELP cassafs_%s %s\n# TYPE cassafs_%s gauge\n"
				   "cassafs_%s %lld\n",
				metrics_gauge_names[i], metrics_gauge_help[i],
				metrics_gauge_names[i], metrics_gauge_names[i],
				(long long)s.gauge[i]);
	fprintf(f, "# HELP cassafs_fuse_requests_total FUSE requests served, by operation.\n"
		   "# TYPE cassafs_fuse_requests_total counter\n");
	for (int op = 0; op < MOP_COUNT; op++)
		if (s.op[op].count)
			fprintf(f, "cassafs_fuse_requests_total{op=\"%s\"} %llu\n",
				metrics_op_names[op],
				(unsigned long long)s.op[op].count);
	fprintf(f, "# HELP cassafs_fuse_request_round_trips_total Store round trips made serving FUSE requests, by operation (op=\"none\": outside any request).\n"
		   "# TYPE cassafs_fuse_request_round_trips_total counter\n");
	for (int op = 0; op <= MOP_COUNT; op++)
		if (s.op_round_trips[op])
			fprintf(f, "cassafs_fuse_request_round_trips_total{op=\"%s\"} %llu\n",
				op < MOP_COUNT ? metrics_op_names[op] : "none",
				(unsigned long long)s.op_round_trips[op]);
	fprintf(f, "# HELP cassafs_fuse_request_duration_seconds Time to serve a FUSE request, by operation.\n"
		   "# TYPE cassafs_fuse_request_duration_seconds histogram\n");
	for (int op = 0; op < MOP_COUNT; op++) {
		char label[64];
		if (!s.op[op].count)
			continue;
		snprintf(label, sizeof(label), "op=\"%s\"", metrics_op_names[op]);
		write_histogram(f, "cassafs_fuse_request_duration_seconds", label,
				&s.op[op]);
	}
	fprintf(f, "# HELP cassafs_store_round_trip_seconds Time of a round trip to the store server.\n"
		   "# TYPE cassafs_store_round_trip_seconds histogram\n");
	write_histogram(f, "cassafs_store_round_trip_seconds", "", &s.round_trip);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The status page: static HTML; its script fetches /stats.json every two
 * seconds and draws the figures, rates from the difference between two
 * samples, p50/p99 from the histogram (upper bound of the bucket). */
static const char page_html[] =
"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<title>CassaFS status</title>\n<style>\n"
"body{font-family:sans-serif;margin:1.5em;color:#222;max-width:70em}\n"
"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}\n"
"table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}\n"
"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
"#upd{color:#777;font-size:.9em}svg text{font-size:12px;font-family:sans-serif}\n"
"</style></head><body>\n"
"<h1>CassaFS mount <span id=\"mp\"></span></h1>\n"
"<table id=\"fs\"></table>\n"
"<h2>Live mounts</h2><table id=\"mounts\"><tr><th>host<th>pid<th>mount point<th>since<th>version</table>\n"
"<h2 id=\"barh\">Requests per second</h2><svg id=\"bars\" width=\"640\" height=\"20\"></svg>\n"
"<h2>Operations</h2>\n"
"<table id=\"ops\"><thead><tr><th>operation<th class=\"n\">total<th class=\"n\">per second"
"<th class=\"n\">p50<th class=\"n\">p99</thead><tbody></tbody></table>\n"
"<p id=\"upd\">loading…</p>\n"
"<script>\n"
"let prev=null;\n"
"const $=id=>document.getElementById(id);\n"
"const esc=s=>String(s).replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]));\n"
"function bytes(n){const u=['B','KiB','MiB','GiB','TiB'];let i=0;while(n>=1024&&i<4){n/=1024;i++}return n.toFixed(i?1:0)+' '+u[i]}\n"
"function dur(ns){if(ns==null)return '–';if(ns<1e6)return '≤ '+(ns/1e3)+' µs';if(ns<1e9)return '≤ '+(ns/1e6)+' ms';return '≤ '+(ns/1e9)+' s'}\n"
"function quant(b,bounds,q){const t=b.reduce((a,x)=>a+x,0);if(!t)return null;let acc=0;"
"for(let i=0;i<b.length;i++){acc+=b[i];if(acc>=q*t)return i<bounds.length?bounds[i]:bounds[bounds.length-1]*10}return null}\n"
"function render(s){\n"
" $('mp').textContent=s.mountpoint;\n"
" const dt=prev?(s.sampled_ms-prev.s.sampled_ms)/1000:0;\n"
" const rate=(now,old)=>dt>0?((now-old)/dt):null;\n"
" const c=s.counters,pc=prev?prev.s.counters:null;\n"
" const rows=[['filesystem',s.filesystem],['uuid',s.uuid],['cassafs',s.version+' (pid '+s.pid+')'],"
"['up',s.uptime_seconds+' s'],['block size',bytes(s.block_size)],['inodes used',s.inodes_used],"
"['bytes used',bytes(s.bytes_used||0)],"
"['read',bytes(c.read_bytes_total)+(pc?' ('+bytes(rate(c.read_bytes_total,pc.read_bytes_total))+'/s)':'')],"
"['written',bytes(c.written_bytes_total)+(pc?' ('+bytes(rate(c.written_bytes_total,pc.written_bytes_total))+'/s)':'')],"
"['store transactions',(c.store_read_transactions_total+c.store_write_transactions_total)+' ('+c.store_conflicts_total+' conflicts, '+c.store_failed_transactions_total+' failed)'],"
"['open files',(s.open_handles||0)+' ('+bytes(s.dirty_bytes||0)+' of write buffers not yet committed)'],"
"['coordinator',s.coordinator_session_state===undefined?'local (one mount at a time)':(['expired or refused','connecting','connected'][s.coordinator_session_state+1]+'; notices '+c.notices_sent_total+' sent, '+c.notices_received_total+' received, '+c.notices_lost_total+' lost')],"
"['store round trips',s.round_trip.count?(s.round_trip.count+' (p50 '+dur(quant(s.round_trip.buckets,s.bucket_bounds_ns,.5))+', p99 '+dur(quant(s.round_trip.buckets,s.bucket_bounds_ns,.99))+')'):'none (embedded store)']];\n"
" $('fs').innerHTML=rows.map(r=>'<tr><th>'+esc(r[0])+'<td>'+esc(r[1])).join('');\n"
" const m=s.mounts||[];\n"
" $('mounts').innerHTML='<tr><th>host<th>pid<th>mount point<th>since<th>version'+m.map(x=>'<tr><td>'+esc(x.host)+'<td>'+x.pid+'<td>'+esc(x.mountpoint)+'<td>'+new Date(x.since*1000).toLocaleString()+'<td>'+esc(x.version)).join('');\n"
" const ops=Object.keys(s.ops).sort((a,b)=>s.ops[b].count-s.ops[a].count);\n"
" let body='',bars=[];\n"
" for(const k of ops){const o=s.ops[k],p=prev&&prev.s.ops[k];\n"
"  const r=p?rate(o.count,p.count):(prev?rate(o.count,0):null);\n"
"  const d=p?o.buckets.map((x,i)=>x-p.buckets[i]):o.buckets;\n"
"  const h=d.some(x=>x>0)?d:o.buckets;\n"
"  bars.push([k,r||0]);\n"
"  body+='<tr><td>'+k+'<td class=\"n\">'+o.count+'<td class=\"n\">'+(r==null?'–':r.toFixed(1))+'<td class=\"n\">'+dur(quant(h,s.bucket_bounds_ns,.5))+'<td class=\"n\">'+dur(quant(h,s.bucket_bounds_ns,.99))}\n"
" document.querySelector('#ops tbody').innerHTML=body;\n"
" const idle=!bars.some(b=>b[1]>0);if(idle)bars=ops.map(k=>[k,s.ops[k].count]);\n"
" $('barh').textContent=idle?'Requests (totals: idle now)':'Requests per second';\n"
" bars=bars.sort((a,b)=>b[1]-a[1]).slice(0,12);const max=Math.max(1e-9,...bars.map(b=>b[1]));\n"
" const svg=$('bars');svg.setAttribute('height',Math.max(20,bars.length*20));\n"
" svg.innerHTML=bars.map((b,i)=>'<text x=\"0\" y=\"'+(i*20+14)+'\">'+b[0]+'</text><rect x=\"110\" y=\"'+(i*20+3)+'\" height=\"14\" width=\"'+(b[1]/max*420).toFixed(1)+'\" fill=\"#3b7dd8\"></rect><text x=\"'+(115+b[1]/max*420)+'\" y=\"'+(i*20+14)+'\">'+b[1].toFixed(1)+'</text>').join('');\n"
" $('upd').textContent='updated '+new Date().toLocaleTimeString()+' (every 2 s)';\n"
" prev={t:Date.now(),s:s};\n"
"}\n"
"async function tick(){try{const r=await fetch('stats.json',{cache:'no-store'});render(await r.json())}"
"catch(e){$('upd').textContent='cannot reach the mount: '+e}}\n"
"tick();setInterval(tick,2000);\n"
"</script></body></html>\n";

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *type, char *body, size_t len, int owned)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct metrics_http *h = cls;
	static char not_found[] = "not found: try /, /metrics or /stats.json\n";
	static char bad_method[] = "only GET\n";
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     bad_method, strlen(bad_method), 0);
	if (!strcmp(url, "/metrics")) {
		size_t len;
		char *body = prometheus_text(h, &len);
		if (!body)
			return MHD_NO;
		return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", body,
			     len, 1);
	}
	if (!strcmp(url, "/stats.json")) {
		json_t *o = stats_json(h);
		char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!body)
			return MHD_NO;
		return reply(conn, MHD_HTTP_OK, "application/json", body,
			     strlen(body), 1);
	}
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
			     (char *)page_html, sizeof(page_html) - 1, 0);
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
		     strlen(not_found), 0);
}

int metrics_http_start(const char *addr, struct meta *m, struct coord *c,
		       const char *mountpoint, struct metrics_http **out,
		       char *err, size_t err_len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(addr, ':'), *port_s = colon ? colon + 1 : addr;
	char *end;
	if (colon) {
		if ((size_t)(colon - addr) >= sizeof(host)) {
			snprintf(err, err_len, "metrics=%s: bad address", addr);
			return -EINVAL;
		}
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = 0;
	}
	long port = strtol(port_s, &end, 10);
	if (!*port_s || *end || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, err_len, "metrics=%s: expected PORT or IPV4:PORT "
				       "(e.g. 127.0.0.1:9567)", addr);
		return -EINVAL;
	}
	sa.sin_port = htons((uint16_t)port);
	struct metrics_http *h = calloc(1, sizeof(*h));
	if (!h || !(h->mountpoint = strdup(mountpoint))) {
		free(h);
		return -ENOMEM;
	}
	h->m = m;
	h->c = c;
	h->started = time(NULL);
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port,
				NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_CONNECTION_LIMIT, 32u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, err_len, "metrics: cannot listen on %s:%ld: %s",
			 host, port, strerror(errno ? errno : EADDRINUSE));
		free(h->mountpoint);
		free(h);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned bound = di ? di->port : (unsigned)port;
	metrics_addr_file(mountpoint, h->addr_file, sizeof(h->addr_file));
	FILE *f = fopen(h->addr_file, "w");
	if (f) {
		fprintf(f, "%s:%u\n", host, bound);
		fclose(f);
	}
	*out = h;
	return 0;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	unlink(h->addr_file);
	free(h->mountpoint);
	free(h);
}
