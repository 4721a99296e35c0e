package saslauth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// maxOAuthMessage bounds an OAUTHBEARER client message: a token of
// auth.MaxTokenBytes and room for the header and extensions.
const maxOAuthMessage = 32 << 10

// oauthMessage is an OAUTHBEARER client initial response (RFC 7628 3.1).
type oauthMessage struct {
	// authzid is the GS2 header's "a=" value; empty when absent.
	authzid string
	// token is the bearer token of "auth=Bearer <token>".
	token string
	// extensions are the other key=value pairs (KIP-342).
	extensions map[string]string
}

// errNoChannelBinding refuses a GS2 header that asks for channel binding,
// which SASL over Kafka never uses.
var errNoChannelBinding = errors.New("SASL channel binding is not supported")

// parseOAuthMessage parses a client's initial response:
//
//	gs2-header = ("n" / "y") "," ["a=" saslname] ","
//	message    = gs2-header %x01 *(key "=" value %x01) %x01
//
// "auth" must be present, once, as "Bearer <token>". It never panics and
// allocates in proportion to len(msg).
func parseOAuthMessage(msg []byte) (*oauthMessage, error) {
	if len(msg) > maxOAuthMessage {
		return nil, fmt.Errorf("OAUTHBEARER message is %d bytes; at most %d", len(msg), maxOAuthMessage)
	}
	_, authzid, rest, err := parseGS2Header("OAUTHBEARER", string(msg))
	if err != nil {
		return nil, err
	}
	m := &oauthMessage{authzid: authzid, extensions: map[string]string{}}
	if !strings.HasPrefix(rest, "\x01") || !strings.HasSuffix(rest, "\x01\x01") || len(rest) < 3 {
		return nil, errors.New("OAUTHBEARER key-value pairs must be separated by 0x01 and end with two 0x01")
	}
	seenAuth := false
	for _, kv := range strings.Split(rest[1:len(rest)-2], "\x01") {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return nil, errors.New("OAUTHBEARER key-value pair without a key and \"=\"")
		}
		if !isOAuthKey(key) {
			return nil, errors.New("OAUTHBEARER key has characters other than letters")
		}
		if key != "auth" {
			if _, dup := m.extensions[key]; dup {
				return nil, fmt.Errorf("OAUTHBEARER key %q is given twice", key)
			}
			m.extensions[key] = value
			continue
		}
		if seenAuth {
			return nil, errors.New("OAUTHBEARER \"auth\" is given twice")
		}
		seenAuth = true
		scheme, token, ok := strings.Cut(value, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return nil, errors.New("OAUTHBEARER \"auth\" must be \"Bearer <token>\"")
		}
		m.token = token
	}
	if !seenAuth {
		return nil, errors.New("OAUTHBEARER message has no \"auth\" key")
	}
	return m, nil
}

// parseGS2Header splits the GS2 header (RFC 5801) off a mechanism's first
// message: ("n" / "y") "," ["a=" saslname] ",". Channel binding ("p=") is
// refused. header is the header as sent, authzid the decoded
// authorization id ("" when absent), rest what follows.
func parseGS2Header(mech, s string) (header, authzid, rest string, err error) {
	flag, after, ok := strings.Cut(s, ",")
	if !ok {
		return "", "", "", fmt.Errorf("%s message has no GS2 header", mech)
	}
	switch {
	case flag == "n", flag == "y":
	case strings.HasPrefix(flag, "p="):
		return "", "", "", fmt.Errorf("%w (%s)", errNoChannelBinding, mech)
	default:
		return "", "", "", fmt.Errorf("%s GS2 header starts with %q; want \"n\" or \"y\"", mech, flag)
	}
	authz, rest, ok := strings.Cut(after, ",")
	if !ok {
		return "", "", "", fmt.Errorf("%s GS2 header is not closed by a comma", mech)
	}
	if authz != "" {
		name, ok := strings.CutPrefix(authz, "a=")
		if !ok || name == "" {
			return "", "", "", fmt.Errorf("%s GS2 header has %q where the authorization id \"a=...\" belongs", mech, authz)
		}
		if authzid, err = unescapeSASLName(name); err != nil {
			return "", "", "", err
		}
	}
	return s[:len(s)-len(rest)], authzid, rest, nil
}

// isOAuthKey reports whether key is RFC 7628's key: 1*(ALPHA).
func isOAuthKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// unescapeSASLName decodes RFC 5801's saslname: "=2C" is ",", "=3D" is "=",
// and no other "=" may appear.
func unescapeSASLName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("SASL name has \"=\" not followed by 2C or 3D")
		}
		i += 2
	}
	return b.String(), nil
}
