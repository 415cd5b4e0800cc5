// One call with the official @google/genai SDK against the function; prints what the SDK handed back as JSON.
// usage: BASE_URL=http://127.0.0.1:8080 API_KEY=<client key> MODEL=gemini-2.5-flash \
//          node sdk_check.mjs plain|stream|tools|legacy-plain|legacy-stream|interaction|interaction-stream|
//                             interaction-tools|interaction-get OTHER_ID [prompt]
// "tools": a function call, its result sent back with the model's content as the SDK returned it (thought
// signature included), then countTokens.
// "legacy-*" use @google/generative-ai, the SDK Cloudflare's AI Gateway page shows (deprecated, still in apps).
// @google/genai 2.32.0 is the last release whose engines field admits Node 20 (3.x wants 22); it also runs on
// Debian bookworm's Node 18, which is what .ci/run installs.
import { ApiError, GoogleGenAI } from "@google/genai";
import { GoogleGenerativeAI } from "@google/generative-ai";

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
  if (kind === "tools") {
    const declaration = {
      name: "get_weather",
      description: "Weather for a city",
      parametersJsonSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    };
    const config = { tools: [{ functionDeclarations: [declaration] }], thinkingConfig: { thinkingLevel: "LOW" } };
    const question = { role: "user", parts: [{ text: request.contents }] };
    const first = await ai.models.generateContent({ model: MODEL, contents: [question], config });
    const call = first.functionCalls?.[0];
    const answer = first.candidates?.[0]?.content;
    const result = { role: "user", parts: [{ functionResponse: { id: call?.id, name: call?.name, response: { temp_c: 21 } } }] };
    const second = await ai.models.generateContent({ model: MODEL, contents: [question, answer, result], config });
    const counted = await ai.models.countTokens({ model: MODEL, contents: request.contents });
    return {
      call: call?.name,
      signed: Boolean(answer?.parts?.[0]?.thoughtSignature),
      text: second.text,
      totalTokens: counted.totalTokens,
    };
  }
  if (kind === "interaction") {
    const interaction = await ai.interactions.create({ model: MODEL, input: request.contents });
    const text = interaction.steps?.at(-1)?.content?.[0]?.text;
    return { id: interaction.id, status: interaction.status, text, totalTokens: interaction.usage?.total_tokens };
  }
  if (kind === "interaction-stream") {
    const stream = await ai.interactions.create({ model: MODEL, input: request.contents, stream: true });
    const events = [];
    let text = "";
    let id;
    for await (const event of stream) {
      events.push(event.event_type);
      if (event.event_type === "step.delta" && event.delta?.type === "text") text += event.delta.text;
      id = event.interaction?.id ?? id;
    }
    return { events, text, id };
  }
  if (kind === "interaction-tools") {
    const weather = {
      type: "function",
      name: "get_weather",
      description: "Weather for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    };
    const asked = await ai.interactions.create({ model: MODEL, input: request.contents, tools: [weather] });
    const call = asked.steps?.find((step) => step.type === "function_call");
    const signed = Boolean(asked.steps?.find((step) => step.type === "thought")?.signature);
    const result = { type: "function_result", call_id: call?.id, name: call?.name, result: { temp_c: 21 } };
    const answered = await ai.interactions.create({
      model: MODEL, previous_interaction_id: asked.id, tools: [weather], input: [result],
    });
    return { call: call?.name, signed, status: answered.status, text: answered.steps?.at(-1)?.content?.[0]?.text };
  }
  if (kind === "interaction-get") {
    const interaction = await ai.interactions.get(process.argv[3]);
    return { id: interaction.id, status: interaction.status };
  }
  if (kind.startsWith("legacy-")) {
    const model = new GoogleGenerativeAI(API_KEY).getGenerativeModel(
      { model: MODEL, systemInstruction: "You are terse.", generationConfig: { thinkingConfig: { thinkingBudget: 0 } } },
      { baseUrl: BASE_URL },
    );
    if (kind === "legacy-plain") {
      const { response } = await model.generateContent(request.contents);
      return { text: response.text(), finishReason: response.candidates?.[0]?.finishReason };
    }
    const texts = [];
    const result = await model.generateContentStream(request.contents);
    for await (const chunk of result.stream) texts.push(chunk.text());
    return { texts, finishReason: (await result.response).candidates?.[0]?.finishReason };
  }
  throw new Error(`unknown case ${kind}`);
}

try {
  console.log(JSON.stringify({ ok: true, ...(await run(process.argv[2])) }));
} catch (err) {
  const api = err instanceof ApiError;
  const status = api ? err.status : (err.status ?? null); // @google/generative-ai: GoogleGenerativeAIFetchError.status
  console.log(JSON.stringify({ ok: false, apiError: api, status, message: String(err.message) }));
}
