// A minimal "ask the docs" page built on the official @kapaai/react-sdk, unmodified: <KapaProvider> and the
// useChat hook, pointed at docsage. Used by tests/api/kapa_clients/test_react_sdk_browser.py.
//
// Query string: ?base=http://127.0.0.1:8000 (docsage, no trailing slash)&integration=<WIDGET integration id>
//
// Rendered for the test: <main data-busy data-thread> (the hook is preparing or streaming an answer; its
// thread id), then per QA a
// <section class="qa" data-status="streaming|pending_completion|completed"> with the answer text and
// <li data-source-url> for each source the SDK kept, and the hook's error in role=alert.

import { useState } from "react";
import { createRoot } from "react-dom/client";
import { DefaultKapaApiService, KapaProvider, processStream, useChat } from "@kapaai/react-sdk";

const params = new URLSearchParams(window.location.search);

function Chat() {
  const { conversation, submitQuery, isPreparingAnswer, isGeneratingAnswer, error, threadId } = useChat();
  const [query, setQuery] = useState("");
  const busy = isPreparingAnswer || isGeneratingAnswer;
  const ask = (event) => {
    event.preventDefault();
    submitQuery(query);
    setQuery("");
  };
  return (
    <main data-busy={String(busy)} data-thread={threadId ?? ""}>
      <form onSubmit={ask}>
        <input aria-label="Question" value={query} onChange={(e) => setQuery(e.target.value)} />
        <button type="submit" disabled={busy}>Ask</button>
      </form>
      {error && <p role="alert">{error}</p>}
      {conversation.map((qa, i) => (
        <section key={i} className="qa" data-status={qa.status}>
          <h2>{qa.question}</h2>
          <p className="answer">{qa.answer}</p>
          <ul className="sources">
            {qa.sources.map((s) => (
              <li key={s.source_url} data-source-url={s.source_url}>{s.title}</li>
            ))}
          </ul>
        </section>
      ))}
    </main>
  );
}

// The service KapaProvider builds by default, with docsage in place of https://proxy.kapa.ai.
const apiService = new DefaultKapaApiService(processStream, params.get("base"));

createRoot(document.getElementById("root")).render(
  <KapaProvider integrationId={params.get("integration")} apiService={apiService}>
    <Chat />
  </KapaProvider>,
);
