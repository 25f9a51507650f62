//! The page's inline style sheet and its one small script (hover tooltips),
//! kept apart from the Rust that writes the markup.
//!
//! Why inline and tiny: the report must open offline, from a CI artefact or an
//! e-mail attachment, and print. The script only reads `data-*` attributes the
//! charts carry; without it (printing, scripts off) every chart is complete,
//! and each legend states the series' maximum.

/// Screen and print style: dark text on white, system fonts only.
pub(crate) const CSS: &str = r#"
:root{color-scheme:light}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0 auto;max-width:1100px;padding:20px 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif;color:#1a1a1a;background:#fff}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ccc;padding-bottom:3px}
.sub{color:#444;margin:0 0 12px;word-break:break-all}
.banner.incomplete{padding:10px 16px;border:2px dashed #b45309;border-radius:6px;background:#fff7e6;color:#7c2d12;margin:12px 0}
.verdict{padding:10px 16px;border:2px solid;border-radius:6px;font-size:20px;font-weight:700;margin:12px 0}
.verdict small{font-size:14px;font-weight:400;margin-left:10px}
.verdict.pass{background:#e7f5ea;border-color:#1e7b34;color:#14532d}
.verdict.fail{background:#fdecea;border-color:#b3261e;color:#7f1d1d}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.ex{word-break:break-all;font-family:ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px}
tr.fail td{background:#fdecea}
.ok{color:#14532d;font-weight:600}
.bad{color:#b3261e;font-weight:700}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:2px 20px;margin:8px 0}
.facts div{border-bottom:1px dotted #bbb;padding:2px 0;display:flex;justify-content:space-between;gap:10px}
.facts span{color:#555;white-space:nowrap}
.facts b{font-weight:600;text-align:right;word-break:break-all}
figure{margin:12px 0 18px;break-inside:avoid;page-break-inside:avoid}
svg.chart{width:100%;height:auto;display:block}
svg text{font-size:13px;fill:#333}
svg .ctitle{font-size:17px;font-weight:700;fill:#1a1a1a}
svg .plot{fill:#fff;stroke:#888}
svg .grid{stroke:#e2e2e2}
svg .vgrid{stroke:#eee}
svg .tick{stroke:#888}
svg .yl{text-anchor:end}
svg .yr{text-anchor:start}
svg .xl{text-anchor:middle}
svg .alabel{text-anchor:middle;font-size:13.5px;fill:#1a1a1a}
svg .series{fill:none;stroke-width:1.8;stroke-linejoin:round}
svg .fault{stroke:#d6604d;stroke-width:.8}
svg .flabel{font-size:12px;fill:#7f2704;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .hair{stroke:#444;stroke-dasharray:3 3}
svg .nodata{fill:#777;font-size:14px}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;border-radius:4px;padding:4px 8px;font-size:12px;box-shadow:0 2px 6px rgba(0,0,0,.2);display:none;white-space:pre;z-index:9}
.muted{color:#666}
@media print{body{max-width:none;padding:0;font-size:11px}#tip,svg .hair{display:none!important}h2{break-after:avoid}@page{margin:12mm}}
"#;

/// Hover tooltips: the nearest point of every series under the cursor.
pub(crate) const JS: &str = r#"
(function(){var tip=document.getElementById('tip');if(!tip)return;
function pts(p){if(!p._d){p._d=p.getAttribute('data-p').split(' ').map(function(s){var a=s.split(',');return[+a[0],+a[1]];});}return p._d;}
function near(d,u){var lo=0,hi=d.length-1;while(hi-lo>1){var m=(lo+hi)>>1;if(d[m][0]<u)lo=m;else hi=m;}return Math.abs(d[lo][0]-u)<=Math.abs(d[hi][0]-u)?d[lo]:d[hi];}
function f(v){if(isNaN(v))return'no data';var a=Math.abs(v);return a>=1000||v===Math.round(v)?Math.round(v).toLocaleString('en-US'):a>=10?v.toFixed(1):String(+v.toPrecision(3));}
function hms(t){t=Math.round(t);var h=Math.floor(t/3600),m=Math.floor(t%3600/60),s=t%60;return h+':'+(m<10?'0':'')+m+':'+(s<10?'0':'')+s;}
function pc(u){return(100*(1-Math.pow(10,-u))).toFixed(Math.max(0,Math.ceil(u)-1))+'%';}
Array.prototype.forEach.call(document.querySelectorAll('svg.chart'),function(s){
var d=s.dataset,x0=+d.x0,x1=+d.x1,u0=+d.u0,u1=+d.u1,pct=d.xk==='pct',w=s.viewBox.baseVal.width,hair=s.querySelector('.hair'),ps=s.querySelectorAll('path.series');
function hide(){tip.style.display='none';hair.setAttribute('visibility','hidden');}
s.addEventListener('mouseleave',hide);
s.addEventListener('mousemove',function(e){var r=s.getBoundingClientRect(),x=(e.clientX-r.left)/r.width*w;
if(x<x0||x>x1||!ps.length){hide();return;}
var u=u0+(x-x0)/(x1-x0)*(u1-u0),out=[pct?'percentile '+pc(u):'t = '+Math.round(u)+' s ('+hms(u)+')'];
Array.prototype.forEach.call(ps,function(p){var q=near(pts(p),u);out.push(p.getAttribute('data-n')+': '+f(q[1])+' '+p.getAttribute('data-u')+(pct?' at '+pc(q[0]):''));});
tip.textContent=out.join('\n');tip.style.display='block';
var l=e.clientX+14;if(l+tip.offsetWidth>innerWidth)l=e.clientX-14-tip.offsetWidth;
tip.style.left=l+'px';tip.style.top=(e.clientY+14)+'px';
hair.setAttribute('x1',x);hair.setAttribute('x2',x);hair.setAttribute('visibility','visible');});});})();
"#;
