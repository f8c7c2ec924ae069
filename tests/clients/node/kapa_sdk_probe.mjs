// kapa_sdk_probe.mjs: drive the official @kapaai/react-sdk (pinned in package.json) against a docsage
// server from Node 20, without a DOM. Used by tests/api/kapa_clients/test_react_sdk.py.
//
// Env:
//   BASE_URL    e.g. http://127.0.0.1:8000 (no trailing slash: the SDK appends "/proxy/..." verbatim)
//   QUERY       the question
//   MODE        sdk (default): DefaultKapaApiService.submitQuery + the SDK's processStream, unmodified:
//                 POST ${BASE_URL}/proxy/query/v2/chat/stream/
//                 or   ${BASE_URL}/proxy/query/v2/thread/${THREAD_ID}/chat/stream/
//                 with X-WEBSITE-ID: ${WEBSITE_ID} and a captcha header, as a browser widget would.
//               v1: a plain fetch to the public API, parsed by the SDK's exported processStream:
//                 POST ${BASE_URL}/query/v1/projects/${PROJECT_ID}/chat/stream/
//                 or   ${BASE_URL}/query/v1/threads/${THREAD_ID}/chat/stream/
//                 with X-API-KEY: ${API_KEY}.
//   WEBSITE_ID  integration id (MODE=sdk)
//   PROJECT_ID, API_KEY  (MODE=v1)
//   THREAD_ID   optional: ask a follow-up in this thread
//   FEEDBACK    optional upvote|downvote: after the answer, DefaultKapaApiService.addFeedback
//               (POST ${BASE_URL}/proxy/query/v2/feedback/upsert/); MODE=sdk only.
//
// Prints one JSON line:
//   {answer, thread_id, question_answer_id, relevant_sources, is_uncertain, error, feedback_ok, ...}
// Exit code 0 on success; 1 if the SDK reported an error (message in "error") or addFeedback failed;
// 2 on bad usage.

import { DefaultKapaApiService, processStream } from "@kapaai/react-sdk";

const env = process.env;
const BASE_URL = env.BASE_URL ?? "http://127.0.0.1:8000";
const MODE = env.MODE || "sdk";
const QUERY = env.QUERY ?? "How do I get started?";
const WEBSITE_ID = env.WEBSITE_ID ?? "";
const PROJECT_ID = env.PROJECT_ID ?? "";
const API_KEY = env.API_KEY ?? "";
const THREAD_ID = env.THREAD_ID || null;
const FEEDBACK = env.FEEDBACK || null;

// What the SDK's <Recaptcha> provider hands to submitQuery/addFeedback in a browser. docsage does not
// verify captchas; the header is sent so the request is byte-for-byte what the widget sends.
const CAPTCHA = { key: "X-RECAPTCHA-ENTERPRISE-TOKEN", token: "docsage-probe-token" };

function newResult() {
  return {
    mode: MODE,
    answer: "",
    thread_id: null,
    question_answer_id: null,
    relevant_sources: [],
    is_uncertain: null,
    stream_start_thread_id: null,
    first_token: false,
    chunks: [],
    error: null,
    feedback_ok: null,
    feedback_error: null,
  };
}

// The callbacks KapaProvider passes to the service (onPartialAnswer etc.), recording what arrived in order.
function callbacksFor(r) {
  return {
    onStreamStart: (threadId) => {
      r.chunks.push("stream_start");
      r.stream_start_thread_id = threadId;
    },
    onFirstToken: () => {
      r.first_token = true;
    },
    onPartialAnswer: (text) => {
      if (r.chunks.at(-1) !== "partial_answer") r.chunks.push("partial_answer");
      r.answer += text;
    },
    onRelevantSources: (sources) => {
      r.chunks.push("relevant_sources");
      r.relevant_sources = sources;
    },
    onMetadata: (metadata) => {
      r.chunks.push("metadata");
      r.is_uncertain = metadata.is_uncertain;
    },
    onIdentifiers: (threadId, questionAnswerId) => {
      r.chunks.push("identifiers");
      r.thread_id = threadId;
      r.question_answer_id = questionAnswerId;
    },
    onError: (message) => {
      r.chunks.push("error");
      r.error = message;
    },
  };
}

async function runSdk() {
  const r = newResult();
  const service = new DefaultKapaApiService(processStream, BASE_URL);
  // The arguments KapaProvider's submitQuery builds (userTrackingMode "cookie" → kapa_web_id).
  await service.submitQuery(
    {
      query: QUERY,
      mode: "default",
      threadId: THREAD_ID,
      captcha: CAPTCHA,
      integrationId: WEBSITE_ID,
      userIdentifiers: { kapa_web_id: "docsage-probe-web-id" },
      userMetadata: {},
      originUrl: "http://localhost/probe",
      files: [],
    },
    callbacksFor(r),
  );
  if (FEEDBACK) {
    if (!r.question_answer_id || r.error) {
      r.feedback_ok = false;
      r.feedback_error = "no question_answer_id to give feedback on";
    } else {
      try {
        await service.addFeedback({
          questionAnswerId: r.question_answer_id,
          reaction: FEEDBACK,
          captcha: CAPTCHA,
          integrationId: WEBSITE_ID,
          comment: FEEDBACK === "downvote" ? { issue: "probe comment", incorrect: true } : undefined,
        });
        r.feedback_ok = true;
      } catch (e) {
        r.feedback_ok = false;
        r.feedback_error = String(e?.message ?? e);
      }
    }
  }
  return r;
}

async function runV1() {
  const r = newResult();
  const url = THREAD_ID
    ? `${BASE_URL}/query/v1/threads/${encodeURIComponent(THREAD_ID)}/chat/stream/`
    : `${BASE_URL}/query/v1/projects/${encodeURIComponent(PROJECT_ID)}/chat/stream/`;
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-KEY": API_KEY },
      body: JSON.stringify({ query: QUERY }),
    });
  } catch (e) {
    r.error = `network error: ${e?.message ?? e} (${e?.cause?.code ?? e?.cause?.message ?? ""})`;
    return r;
  }
  if (!response.ok || !response.body) {
    r.error = `HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`;
    return r;
  }
  try {
    await processStream(response, callbacksFor(r));
  } catch (e) {
    // processStream throws (TypeError) on a record that is JSON but not {chunk: {type, content}}.
    r.error = `processStream threw: ${e?.message ?? e}`;
  }
  return r;
}

const runners = { sdk: runSdk, v1: runV1 };
if (!runners[MODE]) {
  process.stderr.write(`unknown MODE=${MODE}; use sdk or v1\n`);
  process.exit(2);
}
const result = await runners[MODE]();
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.error || result.feedback_ok === false ? 1 : 0);
