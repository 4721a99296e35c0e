package saslauth

import (
	"context"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
)

// FuzzSCRAMClientFirst: the client-first parser never panics, and what it
// accepts names a user and a nonce without ','.
func FuzzSCRAMClientFirst(f *testing.F) {
	for _, s := range []string{"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "y,a=u,n=u,r=abc,e=x", "p=tls,,n=u,r=a", "n,,m=x,n=u,r=a", "n,,n=a=2Cb,r=a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := parseSCRAMClientFirst(msg)
		if err != nil {
			return
		}
		if m.user == "" || !validNonce(m.nonce) || !strings.HasSuffix(string(msg), m.bare) || m.gs2Header+m.bare != string(msg) {
			t.Fatalf("accepted %q as %+v", msg, m)
		}
	})
}

// FuzzSCRAMClientFinal: the client-final parser never panics, and a whole
// exchange fed an arbitrary final message never authenticates.
func FuzzSCRAMClientFinal(f *testing.F) {
	for _, s := range []string{"c=biws,r=abc,p=dGVzdA==", "c=biws,r=abc,e=1,p=AAAA", "c=,r=,p=", "r=a,c=biws,p=AA=="} {
		f.Add([]byte(s))
	}
	users := &memUsers{}
	users.add(f, SCRAMSHA256, "u", "pw", MinSCRAMIterations)
	mech, err := NewSCRAM(SCRAMSHA256, users)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if m, err := parseSCRAMClientFinal(msg); err == nil && (len(m.proof) == 0 || !strings.HasPrefix(string(msg), m.withoutProof+",p=")) {
			t.Fatalf("accepted %q as %+v", msg, m)
		}
		ex := mech.Start(kafkaserver.ConnInfo{})
		if _, _, err := ex.Next(context.Background(), []byte("n,,n=u,r=nonce")); err != nil {
			t.Fatal(err)
		}
		if _, id, err := ex.Next(context.Background(), msg); err == nil || id != nil {
			t.Fatalf("authenticated with %q", msg)
		}
	})
}
