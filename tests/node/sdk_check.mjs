// One call with the official @google/genai SDK against the function; prints what the SDK handed back as JSON.
// usage: BASE_URL=http://127.0.0.1:8080 API_KEY=<client key> MODEL=gemini-2.5-flash node sdk_check.mjs plain|stream
// @google/genai 2.32.0 is the last release whose engines field admits Node 20 (3.x wants 22); it also runs on
// Debian bookworm's Node 18, which is what .ci/run installs.
import { ApiError, GoogleGenAI } from "@google/genai";

const { BASE_URL, API_KEY, MODEL } = process.env;
const ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: BASE_URL } });
const request = {
  model: MODEL,
  contents: process.argv[3] ?? "hello from node",
  config: { systemInstruction: "You are terse.", thinkingConfig: { thinkingBudget: 0 } },
};

async function run(kind) {
  if (kind === "plain") {
    const response = await ai.models.generateContent(request);
    return {
      text: response.text,
      finishReason: response.candidates?.[0]?.finishReason,
      totalTokens: response.usageMetadata?.totalTokenCount,
    };
  }
  if (kind === "stream") {
    const texts = [];
    let finishReason;
    for await (const chunk of await ai.models.generateContentStream(request)) {
      texts.push(chunk.text ?? "");
      finishReason = chunk.candidates?.[0]?.finishReason ?? finishReason;
    }
    return { texts, finishReason };
  }
  throw new Error(`unknown case ${kind}`);
}

try {
  console.log(JSON.stringify({ ok: true, ...(await run(process.argv[2])) }));
} catch (err) {
  const api = err instanceof ApiError;
  console.log(JSON.stringify({ ok: false, apiError: api, status: api ? err.status : null, message: String(err.message) }));
}
