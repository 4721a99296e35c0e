// Package console is Runnel's web console: a few static files (HTML, CSS,
// plain JavaScript and the @runnel/client SDK's bundled ESM) embedded in
// the binary and served by the gateway at /console.
//
// The page is an ordinary client of the public API, on the same origin as
// the gateway: it logs in with a token (kept in sessionStorage), lists
// topics and consumer groups over REST, creates topics, publishes test
// events, and live-tails a topic over the WebSocket through the SDK. It
// needs no route or permission of its own: what a token may do there is
// what it may do through the API.
//
// assets/runnel-client.js is built from sdk-js/ (make console-assets) and
// committed, so that "go build ./..." works on a fresh clone without
// Node.js. assets/SDK-SOURCES.sha256 records the sources it was built from;
// TestBundleMatchesSDKSources fails when sdk-js/ has changed since.
package console
