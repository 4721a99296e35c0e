package broker_test

import (
	"strings"
	"testing"
)

// TestKcatUnsignedTokenRefused: the kcat build here cannot send a signed
// OAUTHBEARER token (its librdkafka lacks the OIDC token fetcher and kcat
// has no token refresh callback), only librdkafka's unsecured JWT, signed
// with "alg": "none". The broker refuses it, as the gateway refuses such a
// token, and kcat reports the reason.
func TestKcatUnsignedTokenRefused(t *testing.T) {
	b := startSASLBroker(t, 0)
	_, stderr, err := kcatRun(t, nil, "-b", b.Addr(), "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=OAUTHBEARER",
		"-X", "enable.sasl.oauthbearer.unsecure.jwt=true", "-X", "sasl.oauthbearer.config=principal=root", "-L", "-m", "5")
	if err == nil || !strings.Contains(stderr, `algorithm "none" is not accepted`) {
		t.Fatalf("kcat with an unsigned token: %v; stderr:\n%s\nwant the broker's refusal of alg none", err, stderr)
	}
}
