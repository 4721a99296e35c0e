package httpapi

import (
	"context"
	"net/http"
	"sort"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/backend"
)

// fakeScram keeps the fake cluster's SCRAM users: user → mechanism →
// iterations.
type fakeScram map[string]map[string]int32

func (f *fakeBackend) ListScramUsers(context.Context) ([]backend.ScramUser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []backend.ScramUser
	for name, creds := range f.scram {
		u := backend.ScramUser{Name: name}
		for m, it := range creds {
			u.Credentials = append(u.Credentials, backend.ScramCredentialInfo{Mechanism: m, Iterations: it})
		}
		sort.Slice(u.Credentials, func(i, j int) bool { return u.Credentials[i].Mechanism < u.Credentials[j].Mechanism })
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeBackend) SetScramPassword(_ context.Context, user, mechanism, _ string, iterations int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scram == nil {
		f.scram = fakeScram{}
	}
	if f.scram[user] == nil {
		f.scram[user] = map[string]int32{}
	}
	f.scram[user][mechanism] = iterations
	return nil
}

func (f *fakeBackend) DeleteScramCredential(_ context.Context, user, mechanism string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.scram[user][mechanism]; !ok {
		return apierr.New(http.StatusNotFound, apierr.CodeNotFound, "user %q has no %s credential", user, mechanism)
	}
	delete(f.scram[user], mechanism)
	if len(f.scram[user]) == 0 {
		delete(f.scram, user)
	}
	return nil
}
