package saslauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// maxSCRAMMessage bounds a SCRAM client message.
const maxSCRAMMessage = 4096

// scramClientFirst is a client-first-message (RFC 5802 section 7).
type scramClientFirst struct {
	gs2Header string // "n,," or "n,a=user," or "y,,...": echoed in c=
	user      string
	nonce     string
	bare      string // client-first-message-bare, part of AuthMessage
}

// parseSCRAMClientFirst parses gs2-header client-first-message-bare. It
// never panics and allocates in proportion to len(msg).
func parseSCRAMClientFirst(msg []byte) (*scramClientFirst, error) {
	if len(msg) > maxSCRAMMessage {
		return nil, fmt.Errorf("SCRAM client-first message is %d bytes; at most %d", len(msg), maxSCRAMMessage)
	}
	header, authzid, bare, err := parseGS2Header("SCRAM", string(msg))
	if err != nil {
		return nil, err
	}
	m := &scramClientFirst{gs2Header: header, bare: bare}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 {
		return nil, errors.New("SCRAM client-first message needs n= and r=")
	}
	if strings.HasPrefix(attrs[0], "m=") {
		return nil, errors.New("SCRAM mandatory extensions are not supported")
	}
	user, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok || user == "" {
		return nil, errors.New("SCRAM client-first message must start with n=<user>")
	}
	if m.user, err = unescapeSASLName(user); err != nil {
		return nil, err
	}
	if m.nonce, ok = strings.CutPrefix(attrs[1], "r="); !ok || !validNonce(m.nonce) {
		return nil, errors.New("SCRAM client-first message needs r=<nonce> of printable characters other than ','")
	}
	for _, a := range attrs[2:] {
		if len(a) < 2 || a[1] != '=' {
			return nil, errors.New("SCRAM extension is not a letter followed by '='")
		}
	}
	if authzid != "" && authzid != m.user {
		return nil, fmt.Errorf("SCRAM authorization id %q is not the user name", authzid)
	}
	return m, nil
}

// validNonce reports whether n is RFC 5802's printable: %x21-2B / %x2D-7E.
func validNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// scramClientFinal is a client-final-message.
type scramClientFinal struct {
	channelBinding []byte // decoded c=
	nonce          string
	proof          []byte
	withoutProof   string // client-final-message-without-proof
}

// parseSCRAMClientFinal parses c=...,r=...[,extensions],p=... It never
// panics.
func parseSCRAMClientFinal(msg []byte) (*scramClientFinal, error) {
	if len(msg) > maxSCRAMMessage {
		return nil, fmt.Errorf("SCRAM client-final message is %d bytes; at most %d", len(msg), maxSCRAMMessage)
	}
	s := string(msg)
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return nil, errors.New("SCRAM client-final message has no p=<proof>")
	}
	m := &scramClientFinal{withoutProof: s[:i]}
	var err error
	if m.proof, err = base64.StdEncoding.DecodeString(s[i+3:]); err != nil || len(m.proof) == 0 {
		return nil, errors.New("SCRAM proof is not base64")
	}
	attrs := strings.Split(m.withoutProof, ",")
	if len(attrs) < 2 {
		return nil, errors.New("SCRAM client-final message needs c= and r=")
	}
	cb, ok := strings.CutPrefix(attrs[0], "c=")
	if !ok {
		return nil, errors.New("SCRAM client-final message must start with c=")
	}
	if m.channelBinding, err = base64.StdEncoding.DecodeString(cb); err != nil {
		return nil, errors.New("SCRAM channel binding c= is not base64")
	}
	if m.nonce, ok = strings.CutPrefix(attrs[1], "r="); !ok || !validNonce(m.nonce) {
		return nil, errors.New("SCRAM client-final message needs r=<nonce> second")
	}
	return m, nil
}
