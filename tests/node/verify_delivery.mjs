// Verifies one delivery of the function's job callback as a Node receiver would, with the
// standardwebhooks package (tests/integration/test_jobs.py). stdin: {"secret", "body", "headers"};
// stdout: the verified event, or the library's error on stderr and exit 1.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, body, headers } = JSON.parse(input);
try {
  const event = new Webhook(secret).verify(body, headers);
  process.stdout.write(JSON.stringify(event));
} catch (err) {
  process.stderr.write(`${err.name}: ${err.message}\n`);
  process.exit(1);
}
