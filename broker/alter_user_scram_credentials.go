package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func init() {
	register(kmsg.AlterUserSCRAMCredentials, 0, 0, (*Broker).handleAlterUserScramCredentials)
}

// handleAlterUserScramCredentials sets and deletes SCRAM credentials
// (KIP-554). The client sends salted passwords; the broker keeps only the
// stored and server keys derived from them. A user whose changes are all
// acceptable has them applied together with those of the other acceptable
// users, in one metadata entry; a user with any unacceptable change (an
// unknown mechanism, too few iterations, a credential to delete that does
// not exist, the same mechanism twice) gets the error and none of its
// changes, as in Kafka.
func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	img := b.member.Image()

	var order []string
	refused := map[string]error{}
	changes := map[string]*controller.AlterScramCredentialsRequest{}
	seen := map[[2]string]bool{}
	note := func(user, mech string) *controller.AlterScramCredentialsRequest {
		if _, ok := changes[user]; !ok {
			order = append(order, user)
			changes[user] = &controller.AlterScramCredentialsRequest{}
		}
		k := [2]string{user, mech}
		if seen[k] && refused[user] == nil {
			refused[user] = fmt.Errorf("%w: %s is changed more than once", kerr.DuplicateResource, mech)
		}
		seen[k] = true
		return changes[user]
	}
	refuse := func(user string, err error) {
		if refused[user] == nil {
			refused[user] = err
		}
	}
	for _, d := range req.Deletions {
		mech := scramMechanisms[d.Mechanism]
		c := note(d.Name, mech)
		switch _, ok := img.ScramCredential(d.Name, mech); {
		case mech == "":
			refuse(d.Name, fmt.Errorf("%w: mechanism %d", kerr.UnsupportedSaslMechanism, d.Mechanism))
		case !ok:
			refuse(d.Name, fmt.Errorf("%w: no %s credential", kerr.ResourceNotFound, mech))
		default:
			c.Deletions = append(c.Deletions, metadata.UserScramCredentialDeleted{User: d.Name, Mechanism: mech})
		}
	}
	for _, u := range req.Upsertions {
		mech := scramMechanisms[u.Mechanism]
		c := note(u.Name, mech)
		if mech == "" {
			refuse(u.Name, fmt.Errorf("%w: mechanism %d", kerr.UnsupportedSaslMechanism, u.Mechanism))
			continue
		}
		if err := metadata.ValidateScramUser(u.Name); err != nil {
			refuse(u.Name, fmt.Errorf("%w: %w", kerr.UnacceptableCredential, err))
			continue
		}
		cred, err := saslauth.CredentialFromSaltedPassword(mech, u.SaltedPassword, u.Salt, int(u.Iterations))
		if err == nil && len(u.Salt) > metadata.MaxScramSaltLength {
			err = fmt.Errorf("salt of %d bytes; at most %d", len(u.Salt), metadata.MaxScramSaltLength)
		}
		if err != nil {
			refuse(u.Name, fmt.Errorf("%w: %w", kerr.UnacceptableCredential, err))
			continue
		}
		c.Upsertions = append(c.Upsertions, metadata.UserScramCredentialSet{User: u.Name, Credential: metadata.ScramCredential{
			Mechanism: mech, Salt: cred.Salt, Iterations: cred.Iterations, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey,
		}})
	}

	var all controller.AlterScramCredentialsRequest
	for _, user := range order {
		if refused[user] == nil {
			all.Upsertions = append(all.Upsertions, changes[user].Upsertions...)
			all.Deletions = append(all.Deletions, changes[user].Deletions...)
		}
	}
	var applied error
	if len(all.Upsertions)+len(all.Deletions) > 0 {
		ctx, cancel := adminContext(ctx, 0)
		defer cancel()
		applied = b.member.AlterScramCredentials(ctx, all)
	}
	for _, user := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = user
		err := refused[user]
		if err == nil {
			err = applied
		}
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, res)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
