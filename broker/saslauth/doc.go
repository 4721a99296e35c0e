// Package saslauth holds the SASL mechanisms of Runnel's Kafka listeners
// ([kafkaserver.Mechanism]) and the principals they authenticate.
//
// OAUTHBEARER (RFC 7628, Kafka's KIP-255) accepts exactly the JSON Web
// Tokens the gateway accepts: it verifies them with the gateway's
// [auth.Verifier], so the keys, algorithms and exp/iss/aud rules are the
// same, and the principal is the token's subject with the permissions of
// its "runnel" claim.
//
// Every mechanism returns a [kafkaserver.Identity] whose Principal is a
// [Principal]: what the broker authorizes each request with.
package saslauth
