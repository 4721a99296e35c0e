package backend

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ScramUser is a SCRAM user of the cluster and its credentials, without
// salts or keys.
type ScramUser struct {
	Name        string
	Credentials []ScramCredentialInfo
}

// ScramCredentialInfo is one of a user's credentials.
type ScramCredentialInfo struct {
	Mechanism  string // "SCRAM-SHA-256" or "SCRAM-SHA-512"
	Iterations int32
}

// scramMechanism maps a mechanism name to kadm's; 0 when unknown.
func scramMechanism(name string) kadm.ScramMechanism {
	switch name {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256
	case "SCRAM-SHA-512":
		return kadm.ScramSha512
	}
	return 0
}

// ListScramUsers lists the SCRAM users, by name (DescribeUserScramCredentials).
func (b *Backend) ListScramUsers(ctx context.Context) ([]ScramUser, error) {
	if err := b.live(); err != nil {
		return nil, apiError(err, scope{partition: -1})
	}
	described, err := b.adm.DescribeUserSCRAMs(ctx)
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		return nil, apiError(err, scope{partition: -1})
	}
	out := make([]ScramUser, 0, len(described))
	for _, d := range described.Sorted() {
		u := ScramUser{Name: d.User}
		for _, c := range d.CredInfos {
			u.Credentials = append(u.Credentials, ScramCredentialInfo{Mechanism: c.Mechanism.String(), Iterations: c.Iterations})
		}
		slices.SortFunc(u.Credentials, func(a, b ScramCredentialInfo) int { return strings.Compare(a.Mechanism, b.Mechanism) })
		out = append(out, u)
	}
	return out, nil
}

// SetScramPassword sets user's password for mechanism; the salted password
// is computed here, so the password never reaches the cluster
// (AlterUserScramCredentials).
func (b *Backend) SetScramPassword(ctx context.Context, user, mechanism, password string, iterations int32) error {
	return b.alterScram(ctx, user, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: scramMechanism(mechanism), Iterations: iterations, Password: password}})
}

// DeleteScramCredential removes user's credential for mechanism; 404
// not_found when it has none.
func (b *Backend) DeleteScramCredential(ctx context.Context, user, mechanism string) error {
	return b.alterScram(ctx, user, []kadm.DeleteSCRAM{{User: user, Mechanism: scramMechanism(mechanism)}}, nil)
}

func (b *Backend) alterScram(ctx context.Context, user string, del []kadm.DeleteSCRAM, up []kadm.UpsertSCRAM) error {
	if err := b.live(); err != nil {
		return apiError(err, scope{partition: -1})
	}
	res, err := b.adm.AlterUserSCRAMs(ctx, del, up)
	if err == nil {
		err = res[user].Err
	}
	return apiError(err, scope{partition: -1})
}
