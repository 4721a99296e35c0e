package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// TestEveryAPIHasAnAuthorizationRule: an API without a rule would close
// the connections of authenticated clients; a rule that refuses a whole
// request must find the response's ErrorCode.
func TestEveryAPIHasAnAuthorizationRule(t *testing.T) {
	nobody := saslauth.TokenPrincipal{Principal: &auth.Principal{Subject: "nobody"}}
	for key, h := range apis {
		rule, ok := authzRules[key]
		if !ok {
			t.Errorf("%s has no authorization rule", kmsg.NameForKey(key))
			continue
		}
		for v := h.versions.Min; v <= h.versions.Max; v++ {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			whole, patch := rule(nil, nobody, req)
			if whole != nil && whole.Key() != key {
				t.Errorf("%s v%d refused with a %s response", kmsg.NameForKey(key), v, kmsg.NameForKey(whole.Key()))
			}
			if patch != nil {
				patch(req.ResponseKind())
			}
		}
	}
	for key := range authzRules {
		if _, ok := apis[key]; !ok {
			t.Errorf("authorization rule for %s, which the broker does not serve", kmsg.NameForKey(key))
		}
	}
}
