// Package auth verifies the JSON Web Tokens that clients present to the
// gateway and answers what a verified client may do. It also mints tokens,
// for "runnel token" and "runnel dev".
//
// # Verification
//
// A [Verifier] is built once from a [Config] and is safe for concurrent use.
// The keys it trusts decide the algorithms it accepts, and nothing else is
// accepted: an HS256 secret enables HS256, RSA public keys enable RS256, P-256
// keys ES256 and Ed25519 keys EdDSA. "alg": "none" is never accepted. The key
// handed to the signature check always has the type of the token's algorithm,
// so a token that claims HS256 is never checked against an RSA public key used
// as an HMAC secret, the classic algorithm-confusion attack, and a token that
// claims RS256 is never checked against the HS256 secret.
//
// Public keys come from PEM files ([LoadPublicKeysPEM]) and from JSON Web Key
// Sets ([LoadJWKS], [ParseJWKS]). A token's "kid" header picks a key of the
// set; keys without a key id (all PEM keys, and set entries without "kid") are
// tried for every token of their algorithm.
//
// Every token must carry "exp". "iss" and "aud" are checked when the Config
// names them. Failures are [*TokenError] values that match
// [ErrUnauthenticated] and one more specific sentinel ([ErrExpired],
// [ErrBadSignature], ...) with errors.Is; the gateway answers all of them with
// 401, and their messages say what is wrong without repeating secrets.
//
// # Permissions
//
// A verified token becomes a [Principal]. Its permissions come from the
// "runnel" claim:
//
//	"runnel": {"admin": false, "produce": ["orders", "chat.*"], "consume": ["chat.*"]}
//
// Patterns are topic names in which "*" matches any run of characters, dots
// included: "chat.*" matches "chat.room1" and "chat.a.b" but not "chat". A
// pattern that is not a valid topic name with wildcards matches nothing, so a
// typo never widens access. An admin may do everything. A valid token without
// the permission a call needs is the gateway's 403, not 401.
//
// # Minting
//
// A [Minter] signs tokens with an HS256 secret or a private key (RSA for
// RS256, P-256 for ES256, Ed25519 for EdDSA); [LoadPrivateKeyPEM] reads the
// key.
package auth
