/* docsage chat widget: one <script> tag, a floating button, a streamed and cited answer panel.
   <script src="https://HOST/widget.js" data-key="dsb_…" async></script>
   Optional: data-title, data-color, data-position (right|left), data-welcome, data-placeholder,
   data-search="true" (search as you type, opened with Cmd/Ctrl-K unless data-command-k="false"). */
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
  var searchOn = cfg.search === "true" || cfg.searchModeEnabled === "true";
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
    "header button{background:transparent;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1;margin-left:8px}",
    ".find{display:none;flex:1;flex-direction:column;min-height:0}.searching .find{display:flex}.searching .log,.searching form{display:none}",
    ".find input{margin:10px;padding:8px 10px;border:1px solid #d1d5db;border-radius:8px;font-size:14px;color:#111827;background:#fff}",
    ".res{list-style:none;margin:0;padding:0 10px;overflow-y:auto;flex:1}.res li{border-radius:8px;cursor:pointer}.res a,.res .ask{padding:8px}",
    ".res li.on{background:#eef2ff;outline:2px solid var(--c)}.res a{color:inherit;text-decoration:none;display:block}",
    ".res b{color:var(--c)}.res small{display:block;color:#6b7280}.res span{display:block;font-size:12.5px;margin-top:2px}",
    ".res .ask{font-weight:600;color:var(--c)}mark{background:#fef08a;color:inherit}.hint{margin:0 14px 10px;font-size:12px;color:#6b7280}",
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
    "<header><span>" + esc(title) + "</span><div>" +
    (searchOn ? '<button class="mode" aria-pressed="false"></button>' : "") +
    '<button class="close" aria-label="Close chat">×</button></div></header>' +
    (searchOn ? '<div class="find"><input type="search" role="combobox" aria-autocomplete="list" aria-expanded="false" ' +
      'aria-controls="ds-res" aria-label="Search the docs" autocomplete="off" placeholder="' +
      esc(cfg.searchPlaceholder || "Search the docs…") + '"><ul class="res" id="ds-res" role="listbox" aria-label="Results"></ul>' +
      '<p class="hint" aria-live="polite"></p></div>' : "") +
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
  function toggle(open, searching) {
    panel.classList.toggle("open", open);
    btn.setAttribute("aria-expanded", String(open));
    btn.textContent = open ? "×" : "?";
    if (open) {
      if (!welcomed && cfg.welcome) bubble("bot", markdown(cfg.welcome));
      welcomed = true;
      mode(!!searching);
    } else {
      btn.focus();
    }
  }
  btn.addEventListener("click", function () { toggle(!panel.classList.contains("open"), false); });
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

  var find = root.querySelector(".find input"), res = root.querySelector(".res"), hint = root.querySelector(".hint");
  var modeBtn = root.querySelector(".mode"), found = Object.create(null), shown = "", seq = 0, timer = 0, active = -1;
  function mode(searching) {
    panel.classList.toggle("searching", searching);
    if (modeBtn) {
      modeBtn.setAttribute("aria-pressed", String(searching));
      modeBtn.setAttribute("aria-label", searching ? "Ask a question" : "Search the docs");
      modeBtn.textContent = searching ? "💬" : "🔍";
    }
    (searching ? find : input).focus();
  }
  if (searchOn) {
    modeBtn.addEventListener("click", function () { mode(!panel.classList.contains("searching")); });
    if (cfg.commandK !== "false") {
      document.addEventListener("keydown", function (e) {
        if ((e.metaKey || e.ctrlKey) && !e.altKey && !e.shiftKey && (e.key || "").toLowerCase() === "k" && !e.defaultPrevented) {
          e.preventDefault();
          var again = panel.classList.contains("open") && panel.classList.contains("searching");
          toggle(!again, true);
        }
      });
    }
    find.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookUp, 150);
    });
    find.addEventListener("keydown", function (e) {
      var opts = res.children, n = opts.length;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (n) pick(e.key === "ArrowDown" ? (active + 1) % n : (active > 0 ? active : n) - 1);
      } else if (e.key === "Enter") {
        e.preventDefault();
        var chosen = opts[active];
        if (chosen && !chosen.classList.contains("ask")) chosen.querySelector("a").click();
        else handOver();
      }
    });
    res.addEventListener("click", function (e) {
      if (e.target.closest && e.target.closest(".ask")) handOver();
    });
  }
  function pick(i) {
    active = i;
    Array.prototype.forEach.call(res.children, function (li, j) {
      li.classList.toggle("on", j === i);
      li.setAttribute("aria-selected", String(j === i));
    });
    var li = res.children[i];
    if (li) find.setAttribute("aria-activedescendant", li.id);
    else find.removeAttribute("aria-activedescendant");
    if (li) li.scrollIntoView({ block: "nearest" });
  }
  function handOver() {
    var q = find.value.trim();
    if (!q || busy) return;
    mode(false);
    ask(q);
  }
  function marked(text, q) {
    var words = q.split(/\W+/).filter(function (w) { return w.length > 2; }).map(function (w) { return w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); });
    if (!words.length) return esc(text);
    return text.split(new RegExp("(" + words.join("|") + ")", "i")).map(function (part, i) {
      return i % 2 ? "<mark>" + esc(part) + "</mark>" : esc(part);
    }).join("");
  }
  function render(q, pages, note) {
    shown = q;
    res.innerHTML = (pages || []).map(function (p, i) {
      return '<li role="option" id="ds-o' + i + '"><a href="' + esc(safeUrl(p.url)) + '" target="_blank" rel="noopener" tabindex="-1"><b>' +
        marked(p.title || p.url, q) + "</b>" + p.passages.map(function (x) {
          return "<span><small>" + marked(x.heading, q) + "</small>" + marked(x.snippet, q) + "</span>";
        }).join("") + "</a></li>";
    }).join("") + (q ? '<li role="option" id="ds-ask" class="ask">Ask: “' + esc(q) + "” ↵</li>" : "");
    find.setAttribute("aria-expanded", String(!!q));
    hint.textContent = note || (q && pages && !pages.length ? "No page matches; ask instead." : "");
    pick(-1);
  }
  function lookUp() {
    var q = find.value.trim(), mine = ++seq;
    if (q === shown) return;
    if (q.length < 2) return render(q, null);
    if (found[q]) return render(q, found[q]);
    post("/api/v1/search", { query: q.slice(0, 200) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (mine !== seq) return;
        if (r.ok) return render(q, found[q] = j.results);
        render(q, [], r.status === 429 ? "Searching too fast: try again in " + (r.headers.get("Retry-After") || "a few") + " s." : j.error || "Search failed.");
      });
    }).catch(function () { if (mine === seq) render(q, [], "Network error, or this site is not allowed to use this key."); });
  }

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
