"""The function's own chat request, shared by `POST /` and the OpenAI route (converted into it).

`models` and `tools` validate it, `gemini_body` maps it to Gemini's
`generateContent` body, and `call` runs it upstream and builds the answer
object (docs/API.md, "Request" and "Response").
"""
