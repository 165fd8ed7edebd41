/*
 * dashboard.c - the dashboard page, kept as one string so the binary needs no
 * asset files. Plain HTML and JavaScript, no external resources.
 */
#include "obs/dashboard.h"

static const char page[] =
"<!doctype html><html><head><meta charset=utf-8><title>ragd</title>"
"<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
"h1{font-size:20px}table{border-collapse:collapse;margin:1em 0}"
"td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f4f4f4}"
"td:first-child,th:first-child{text-align:left}.ok{color:#080}.bad{color:#b00}"
"#cards div{display:inline-block;border:1px solid #ddd;border-radius:6px;padding:8px 14px;margin:0 8px 8px 0}"
"#cards b{display:block;font-size:22px}</style></head><body>"
"<h1>ragd <span id=ver></span> <span id=status></span></h1>"
"<div id=cards></div><h2>Cache by prefix</h2><table id=prefixes></table>"
"<h2>Recommendations</h2><ul id=rec></ul>"
"<script>\n"
"function esc(s){return String(s).replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]))}\n"
"function card(k,v){return '<div>'+esc(k)+'<b>'+esc(v)+'</b></div>'}\n"
"async function tick(){try{\n"
"const h=await (await fetch('/health')).json();\n"
"const s=await (await fetch('/api/v1/cache/stats')).json();\n"
"document.getElementById('ver').textContent=h.version;\n"
"const st=document.getElementById('status');st.textContent=h.status;st.className=h.status=='healthy'?'ok':'bad';\n"
"document.getElementById('cards').innerHTML=card('hit rate',(s.hit_rate*100).toFixed(1)+'%')+"
"card('hits',s.hits)+card('misses',s.misses)+card('keys',s.keys)+"
"card('memory',(s.memory.bytes_used/1048576).toFixed(1)+' MiB')+card('store',s.memory.backend)+"
"card('compression',s.compression.ratio.toFixed(2)+'x')+card('rating',s.efficiency.rating)+"
"card('uptime',h.uptime_seconds+' s');\n"
"let rows='<tr><th>prefix<th>keys<th>hits<th>misses<th>hit rate<th>TTL (s)</tr>';\n"
"for(const [p,v] of Object.entries(s.prefixes)){rows+='<tr><td>'+esc(p)+'<td>'+(v.keys||0)+'<td>'+(v.hits||0)+"
"'<td>'+(v.misses||0)+'<td>'+((v.hit_rate||0)*100).toFixed(1)+'%<td>'+(v.ttl===undefined?'':v.ttl)+'</tr>'}\n"
"document.getElementById('prefixes').innerHTML=rows;\n"
"document.getElementById('rec').innerHTML=s.recommendations.map(r=>'<li>'+esc(r)+'</li>').join('');\n"
"}catch(e){document.getElementById('status').textContent='unreachable'}}\n"
"tick();setInterval(tick,2000);\n"
"</script></body></html>\n";

const char *dashboard_html(size_t *len)
{
    *len = sizeof page - 1;
    return page;
}
