package controller

import (
	"context"
	"fmt"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// AlterScramCredentialsRequest changes SCRAM credentials, all in one
// metadata entry.
type AlterScramCredentialsRequest struct {
	Upsertions []metadata.UserScramCredentialSet     `json:"upsertions,omitempty"`
	Deletions  []metadata.UserScramCredentialDeleted `json:"deletions,omitempty"`
}

// AlterScramCredentials applies req in one entry: every change or none.
// A deletion of a credential that does not exist fails with
// metadata.ErrUnknownScramCredential, an invalid credential with
// metadata.ErrInvalidScramCredential.
func (c *Controller) AlterScramCredentials(ctx context.Context, req AlterScramCredentialsRequest) error {
	recs := make([]metadata.Record, 0, len(req.Upsertions)+len(req.Deletions))
	for i := range req.Deletions {
		recs = append(recs, metadata.Record{UserScramCredentialDeleted: &req.Deletions[i]})
	}
	for i := range req.Upsertions {
		recs = append(recs, metadata.Record{UserScramCredentialSet: &req.Upsertions[i]})
	}
	if len(recs) == 0 {
		return nil
	}
	return c.checkAndPropose(ctx, "alter SCRAM credentials", recs)
}

// checkAndPropose takes the lock, checks recs against the current
// image, so that a refusal is the caller's error rather than a failed
// proposal, and proposes them.
func (c *Controller) checkAndPropose(ctx context.Context, what string, recs []metadata.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	img := c.image()
	if _, err := img.Apply(img.Version()+1, metadata.Batch{Records: recs}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, err := c.proposeLocked(ctx, recs...)
	return err
}
