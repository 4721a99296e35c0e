package auth

import (
	"errors"
	"fmt"
	"time"
)

// Principal is a verified client: who it is and what it may do.
type Principal struct {
	// Subject is the token's "sub"; it may be empty.
	Subject string
	// Admin allows everything: topic administration and every topic.
	Admin bool
	// Produce and Consume are the topic patterns the client may write to
	// and read from.
	Produce, Consume []string
	// ExpiresAt is the token's "exp". A WebSocket whose token is not
	// refreshed by then is closed.
	ExpiresAt time.Time
}

// IsAdmin reports whether p may do everything. A nil Principal may do
// nothing.
func (p *Principal) IsAdmin() bool { return p != nil && p.Admin }

// CanProduce reports whether p may write to topic.
func (p *Principal) CanProduce(topic string) bool {
	return p != nil && (p.Admin || matchAny(p.Produce, topic))
}

// CanConsume reports whether p may read from topic.
func (p *Principal) CanConsume(topic string) bool {
	return p != nil && (p.Admin || matchAny(p.Consume, topic))
}

// maxPatternLen is the longest topic name Kafka allows, and so the longest
// pattern that could matter.
const maxPatternLen = 249

// ValidatePattern reports why p is not a topic pattern: a topic name, of
// Kafka's characters [a-zA-Z0-9._-] and at most 249 long, in which "*"
// matches any run of characters, dots included. Invalid patterns match no
// topic.
func ValidatePattern(p string) error {
	if p == "" {
		return errors.New("empty topic pattern")
	}
	if len(p) > maxPatternLen {
		return fmt.Errorf("topic pattern is %d characters; at most %d", len(p), maxPatternLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !isTopicChar(c) && c != '*' {
			return fmt.Errorf("topic pattern %q has %q; topic names use letters, digits, '.', '_' and '-', and '*' is the wildcard", p, rune(c))
		}
	}
	return nil
}

func isTopicChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// MatchPattern reports whether topic matches pattern. An invalid pattern
// matches nothing, and nothing matches the empty topic name.
func MatchPattern(pattern, topic string) bool {
	return topic != "" && ValidatePattern(pattern) == nil && match(pattern, topic)
}

func matchAny(patterns []string, topic string) bool {
	for _, p := range patterns {
		if MatchPattern(p, topic) {
			return true
		}
	}
	return false
}

// match is glob matching with "*" as the only special character. It
// backtracks only to the last star, which bounds the work by
// len(pattern)*len(name) steps whatever the pattern.
func match(pattern, name string) bool {
	p, n := 0, 0
	star, retry := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, retry = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			// Let the last star swallow one more character and retry.
			retry++
			p, n = star+1, retry
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
