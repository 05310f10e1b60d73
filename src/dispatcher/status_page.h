// The status page `serve` shows at GET /: one static HTML document with its
// script inline (no build step, nothing fetched from elsewhere). The script
// reads GET /status (ServeMetrics::StatusJson) once a second and draws the
// pipeline as stages on workers with each stage's load and the bottleneck
// marked, live throughput and latency, the workers up or down, and recent
// events. With a token (serve --token-file) the page asks for it and sends
// it as a bearer token; the page itself holds no data.
#pragma once

namespace tandem {

const char* StatusPageHtml();

}  // namespace tandem
