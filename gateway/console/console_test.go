package console

import (
	"regexp"
	"strings"
	"testing"
)

// TestPageLoadsOnlyServedFiles: every /console/ file the page and its
// script name is embedded, and the page has no inline script or style,
// which the Content-Security-Policy would block.
func TestPageLoadsOnlyServedFiles(t *testing.T) {
	ref := regexp.MustCompile(`/console/([A-Za-z0-9._-]+)`)
	seen := 0
	for _, name := range []string{"index.html", "console.js"} {
		f, ok := files[name]
		if !ok {
			t.Fatalf("%s is not embedded", name)
		}
		for _, m := range ref.FindAllStringSubmatch(string(f.body), -1) {
			seen++
			if _, ok := files[m[1]]; !ok {
				t.Errorf("%s loads /console/%s, which is not embedded (have %v)", name, m[1], Names())
			}
		}
	}
	if seen < 3 {
		t.Errorf("found %d references to /console/ files; the page loads its style, its script and the SDK", seen)
	}
	page := string(files[indexFile].body)
	if regexp.MustCompile(`<script(\s+type="module")?>`).MatchString(page) || strings.Contains(page, "<style") ||
		regexp.MustCompile(`\s(style|on[a-z]+)=`).MatchString(page) {
		t.Errorf("index.html has inline script or style, which the policy %q blocks", ContentSecurityPolicy)
	}
	for _, forbidden := range []string{"'unsafe-inline'", "'unsafe-eval'", "*"} {
		if strings.Contains(ContentSecurityPolicy, forbidden) {
			t.Errorf("the policy allows %s", forbidden)
		}
	}
}

// TestContentTypes: each served file has the type its extension names,
// and files of other kinds are not served.
func TestContentTypes(t *testing.T) {
	for name, f := range files {
		dot := strings.LastIndex(name, ".")
		if want := contentTypes[name[dot:]]; f.contentType != want || want == "" {
			t.Errorf("%s: content type %q, want %q", name, f.contentType, want)
		}
	}
	if _, ok := files["SDK-SOURCES.sha256"]; ok {
		t.Errorf("the staleness record is served")
	}
}
