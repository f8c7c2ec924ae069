/* docsage chat widget: one <script> tag, a floating button, a streamed and cited answer panel.
   <script src="https://HOST/widget.js" data-key="dsb_…" async></script>
   Optional: data-title, data-color, data-position (right|left), data-welcome, data-placeholder. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget.js']");
  if (!script || window.__docsageWidget) return;
  window.__docsageWidget = true;
  var cfg = script.dataset;
  var base = new URL(script.src, location.href).origin;
  var key = cfg.key || "";
  var title = cfg.title || "Ask the docs";
  var color = /^#[0-9a-f]{3,8}$|^[a-z]+$/i.test(cfg.color || "") ? cfg.color : "#4f46e5";
  var left = cfg.position === "left";
  var storeKey = "docsage-session:" + base + ":" + key.slice(0, 12);
  var sessionId = null;
  try { sessionId = sessionStorage.getItem(storeKey); } catch (e) { /* storage may be blocked */ }

  var css = [
    ":host{all:initial}.root{all:initial;display:block}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".btn{position:fixed;bottom:20px;" + (left ? "left" : "right") + ":20px;width:56px;height:56px;border-radius:50%;border:0;",
    "background:var(--c);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;font-size:24px}",
    ".btn:focus-visible,button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    ".panel{position:fixed;bottom:88px;" + (left ? "left" : "right") + ":20px;width:380px;max-width:calc(100vw - 24px);",
    "height:560px;max-height:calc(100vh - 110px);background:#fff;color:#111827;border-radius:14px;display:none;",
    "flex-direction:column;box-shadow:0 10px 40px rgba(0,0,0,.28);z-index:2147483001;overflow:hidden;font-size:14px;line-height:1.5}",
    ".panel.open{display:flex}",
    "header{background:var(--c);color:#fff;padding:12px 14px;display:flex;align-items:center;justify-content:space-between;font-weight:600}",
    "header button{background:transparent;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px}",
    ".msg{padding:9px 12px;border-radius:12px;max-width:92%;word-wrap:break-word;overflow-wrap:anywhere}",
    ".user{align-self:flex-end;background:var(--c);color:#fff;white-space:pre-wrap}",
    ".bot{align-self:flex-start;background:#f3f4f6}",
    ".bot p{margin:0 0 8px}.bot p:last-child{margin:0}.bot ul,.bot ol{margin:4px 0 8px;padding-left:20px}",
    ".bot pre{background:#111827;color:#e5e7eb;padding:10px;border-radius:8px;overflow-x:auto;font-size:12.5px;margin:6px 0}",
    ".bot code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}",
    ".bot :not(pre)>code{background:#e5e7eb;padding:1px 4px;border-radius:4px}",
    ".bot a{color:var(--c)}.cite{font-size:11px;vertical-align:super;text-decoration:none;font-weight:600}",
    ".sources{margin-top:8px;border-top:1px solid #e5e7eb;padding-top:6px;font-size:12.5px}",
    ".sources ol{margin:2px 0 0;padding-left:20px}",
    ".uncertain{font-size:12px;color:#92400e;margin-top:6px}",
    ".fb{display:flex;gap:6px;margin-top:6px}.fb button{border:1px solid #d1d5db;background:#fff;border-radius:6px;cursor:pointer;padding:2px 8px;font-size:14px}",
    ".fb button[aria-pressed=true]{background:var(--c);color:#fff;border-color:var(--c)}",
    ".error{align-self:stretch;background:#fef2f2;color:#991b1b;border:1px solid #fecaca}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb}",
    "textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:8px;padding:8px;font-size:14px;max-height:120px;color:#111827;background:#fff}",
    "form button{background:var(--c);color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer;font-weight:600}",
    "form button:disabled{opacity:.5;cursor:default}",
    ".typing{opacity:.6}",
    "@media (max-width:480px){.panel{right:0;left:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("");

  var host = document.createElement("div");
  host.id = "docsage-widget";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML = "<style>" + css + "</style><div class=\"root\">" +
    '<button class="btn" aria-label="Open ' + esc(title) + '" aria-expanded="false">?</button>' +
    '<section class="panel" role="dialog" aria-label="' + esc(title) + '">' +
    "<header><span>" + esc(title) + '</span><button class="close" aria-label="Close chat">×</button></header>' +
    '<div class="log" aria-live="polite"></div>' +
    '<form><textarea rows="1" aria-label="Your question" placeholder="' + esc(cfg.placeholder || "Ask a question…") +
    '"></textarea><button type="submit">Send</button></form></section></div>';
  host.style.setProperty("--c", color);
  root.host.style.setProperty("--c", color);
  (document.body || document.documentElement).appendChild(host);

  var btn = root.querySelector(".btn"), panel = root.querySelector(".panel"), log = root.querySelector(".log");
  var form = root.querySelector("form"), input = root.querySelector("textarea"), send = form.querySelector("button");
  var busy = false, welcomed = false;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function unesc(s) {
    return s.replace(/&(amp|lt|gt|quot|#39);/g, function (_, e) {
      return { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" }[e];
    });
  }
  function safeUrl(u) { return /^(https?:|file:|upload:|mailto:)/i.test(u) ? u : "#"; }
  // Link targets are cut from text inline() has already escaped: unescape them before checking the scheme,
  // then escape once for the attribute (escaping twice turned "?a=1&b=2" into "?a=1&amp;b=2").
  function href(u) { return esc(safeUrl(unesc(u))); }
  function inline(s) {
    var codes = [];
    s = s.replace(/`([^`]+)`/g, function (_, c) { codes.push(c); return "\u0000" + (codes.length - 1) + "\u0000"; });
    s = esc(s);
    s = s.replace(/\[\[(\d+)\]\]\(([^)\s]+)\)/g, function (_, n, u) {
      return '<a class="cite" href="' + href(u) + '" target="_blank" rel="noopener" aria-label="source ' + n + '">[' + n + "]</a>";
    });
    s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, function (_, t, u) {
      return '<a href="' + href(u) + '" target="_blank" rel="noopener">' + t + "</a>";
    });
    s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    return s.replace(/\u0000(\d+)\u0000/g, function (_, i) { return "<code>" + esc(codes[+i]) + "</code>"; });
  }
  function markdown(text) {
    var out = [], lines = text.split("\n"), i = 0, para = [], list = null;
    function flush() {
      if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; }
      if (list) { out.push("<" + list.tag + ">" + list.items.map(function (x) { return "<li>" + inline(x) + "</li>"; }).join("") + "</" + list.tag + ">"); list = null; }
    }
    while (i < lines.length) {
      var line = lines[i], fence = line.match(/^\s*(```|~~~)\s*([\w-]*)/);
      if (fence) {
        flush();
        var code = [];
        i++;
        while (i < lines.length && lines[i].trim().indexOf(fence[1]) !== 0) { code.push(lines[i]); i++; }
        out.push('<pre><code' + (fence[2] ? ' data-lang="' + esc(fence[2]) + '"' : "") + ">" + esc(code.join("\n")) + "</code></pre>");
        i++;
        continue;
      }
      var item = line.match(/^\s*(?:[-*]|(\d+)\.)\s+(.*)$/);
      if (item) {
        var tag = item[1] ? "ol" : "ul";
        if (para.length || (list && list.tag !== tag)) flush();
        list = list || { tag: tag, items: [] };
        list.items.push(item[2]);
      } else if (!line.trim()) {
        flush();
      } else if (list && /^\s+/.test(line)) {
        list.items[list.items.length - 1] += " " + line.trim();
      } else {
        if (list) flush();
        para.push(line.trim());
      }
      i++;
    }
    flush();
    return out.join("");
  }
  function bubble(cls, html) {
    var el = document.createElement("div");
    el.className = "msg " + cls;
    el.innerHTML = html;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }
  function toggle(open) {
    panel.classList.toggle("open", open);
    btn.setAttribute("aria-expanded", String(open));
    btn.textContent = open ? "×" : "?";
    if (open) {
      if (!welcomed && cfg.welcome) bubble("bot", markdown(cfg.welcome));
      welcomed = true;
      input.focus();
    } else {
      btn.focus();
    }
  }
  btn.addEventListener("click", function () { toggle(!panel.classList.contains("open")); });
  root.querySelector(".close").addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var q = input.value.trim();
    if (!q || busy) return;
    input.value = "";
    ask(q);
  });

  function showError(message) {
    var el = bubble("error", esc(message));
    el.setAttribute("role", "alert");
  }
  function feedback(el, messageId) {
    var bar = document.createElement("div");
    bar.className = "fb";
    [["up", "👍", "Helpful"], ["down", "👎", "Not helpful"]].forEach(function (r) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = r[1];
      b.setAttribute("aria-label", r[2]);
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        post("/api/v1/feedback", { question_answer_id: messageId, reaction: r[0] }).then(function (res) {
          if (!res.ok) throw new Error("feedback failed");
          bar.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
        }).catch(function () { showError("Could not send your feedback."); });
      });
      bar.appendChild(b);
    });
    el.appendChild(bar);
  }
  function post(path, body) {
    return fetch(base + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
      body: JSON.stringify(body)
    });
  }
  function ask(q) {
    busy = true;
    send.disabled = true;
    bubble("user", esc(q));
    var el = bubble("bot typing", "…"), text = "", sources = [], started = false;
    post("/api/v1/chat", { message: q, session_id: sessionId, stream: true }).then(function (res) {
      if (!res.ok) {
        return res.json().catch(function () { return {}; }).then(function (j) {
          throw new Error(j.error || ("request failed (HTTP " + res.status + ")"));
        });
      }
      var reader = res.body.getReader(), decoder = new TextDecoder(), buf = "";
      function handle(block) {
        var ev = "message", data = "";
        block.split("\n").forEach(function (l) {
          if (l.indexOf("event:") === 0) ev = l.slice(6).trim();
          else if (l.indexOf("data:") === 0) data += l.slice(5).trim();
        });
        if (!data) return;
        var d = JSON.parse(data);
        if (ev === "message") {
          if (!started) { el.classList.remove("typing"); started = true; }
          text += d.content;
          el.innerHTML = markdown(text);
        } else if (ev === "sources") {
          sources = d.sources || [];
        } else if (ev === "end") {
          sessionId = d.session_id;
          try { sessionStorage.setItem(storeKey, sessionId); } catch (e) { /* ignore */ }
          if (sources.length) {
            el.insertAdjacentHTML("beforeend", '<div class="sources"><strong>Sources</strong><ol>' +
              sources.map(function (s) {
                return '<li><a href="' + esc(safeUrl(s.url)) + '" target="_blank" rel="noopener">' + esc(s.title || s.url) + "</a></li>";
              }).join("") + "</ol></div>");
          }
          if (d.is_uncertain) el.insertAdjacentHTML("beforeend", '<div class="uncertain">The documentation may not cover this.</div>');
          if (d.message_id) feedback(el, d.message_id);
        } else if (ev === "error") {
          throw new Error(d.error || "the answer failed");
        }
        log.scrollTop = log.scrollHeight;
      }
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) return;
          buf += decoder.decode(r.value, { stream: true });
          var parts = buf.split("\n\n");
          buf = parts.pop();
          parts.forEach(handle);
          return pump();
        });
      }
      return pump();
    }).catch(function (err) {
      if (!started) el.remove();
      // fetch rejects with a TypeError on network and CORS failures (an origin no key allows ends here).
      var network = !err || err.name === "TypeError";
      showError(network ? "Network error, or this site is not allowed to use this chat key." : err.message);
    }).then(function () {
      busy = false;
      send.disabled = false;
      input.focus();
    });
  }
})();
