package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// Paths are the console's routes, in openapi.yaml's form: the page, and
// the files it loads.
const (
	PagePath  = "/console"
	AssetPath = "/console/{file}"
)

// indexFile is the page served at /console.
const indexFile = "index.html"

// ContentSecurityPolicy is sent with every console file: scripts, styles,
// fetches and WebSockets from the gateway's own origin only, no inline
// code, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var embedded embed.FS

// files are the servable files by name: the assets folder, flat.
var files = mustLoad()

// contentTypes are the served kinds of file, by extension: a fixed table,
// not the system's mime.types, so every machine sends the same headers.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

type file struct {
	body        []byte
	contentType string
}

func mustLoad() map[string]file {
	out := map[string]file{}
	entries, err := fs.ReadDir(embedded, "assets")
	if err != nil {
		panic("console: embedded assets: " + err.Error())
	}
	for _, e := range entries {
		name := e.Name()
		ct := contentTypes[path.Ext(name)]
		if e.IsDir() || ct == "" {
			continue // SDK-SOURCES.sha256 and the like are not served
		}
		b, err := embedded.ReadFile("assets/" + name)
		if err != nil {
			panic("console: embedded asset " + name + ": " + err.Error())
		}
		out[name] = file{body: b, contentType: ct}
	}
	if _, ok := out[indexFile]; !ok {
		panic("console: no embedded " + indexFile)
	}
	return out
}

// Names lists the files served under /console/, for tests and docs.
func Names() []string {
	out := make([]string, 0, len(files))
	for n := range files {
		out = append(out, n)
	}
	return out
}

// Serve answers GET and HEAD on PagePath (the page) and AssetPath (a file
// the page loads; 404 for any other name). Every answer carries the
// Content-Security-Policy and is revalidated by the browser, so a new
// binary's files replace the old ones at once.
func Serve(c *fiber.Ctx) error {
	name := c.Params("file")
	if name == "" {
		name = indexFile
	}
	f, ok := files[name]
	if !ok || strings.ContainsAny(name, "/\\") {
		return apierr.New(http.StatusNotFound, apierr.CodeNotFound, "no console file %q; the console is at %s", name, PagePath)
	}
	h := &c.Response().Header
	h.Set(fiber.HeaderContentSecurityPolicy, ContentSecurityPolicy)
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	h.Set(fiber.HeaderCacheControl, "no-cache")
	h.SetContentType(f.contentType)
	return c.Send(f.body)
}
