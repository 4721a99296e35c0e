package loadgen

import "testing"

func TestParseProbe(t *testing.T) {
	good := []byte(`{"type":"event","id":"bench","topic":"t","partition":0,"offset":5,"timestamp":1,"key":null,"value":{"sent":1795607313391000000,"seq":42},"headers":{}}`)
	p, ok := parseProbe(good)
	if !ok || p.Sent != 1795607313391000000 || p.Seq != 42 {
		t.Fatalf("parseProbe = %+v, %v", p, ok)
	}
	for _, bad := range []string{
		`{"type":"event","value":"x"}`,
		`{"type":"event","value":{"sent":,"seq":1}}`,
		`{"type":"event","value":{"sent":1,"seq":}}`,
		`{"type":"event","value":{"sent":1}}`,
	} {
		if p, ok := parseProbe([]byte(bad)); ok {
			t.Errorf("%s: parsed %+v", bad, p)
		}
	}
}
