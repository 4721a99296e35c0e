package metadata

import (
	"bytes"
	"errors"
	"testing"
)

func scramCred(mech string, iterations int) ScramCredential {
	size := ScramKeySize(mech)
	return ScramCredential{Mechanism: mech, Salt: []byte("salt"), Iterations: iterations,
		StoredKey: bytes.Repeat([]byte{1}, size), ServerKey: bytes.Repeat([]byte{2}, size)}
}

func TestScramCredentialRecords(t *testing.T) {
	img := NewImage()
	apply := func(recs ...Record) (*Image, error) {
		enc, err := Encode(Batch{Records: recs})
		if err != nil {
			return nil, err
		}
		b, err := Decode(enc)
		if err != nil {
			return nil, err
		}
		return img.Apply(img.Version()+1, b)
	}
	var err error
	img, err = apply(
		Record{UserScramCredentialSet: &UserScramCredentialSet{User: "alice", Credential: scramCred(ScramSHA512, 4096)}},
		Record{UserScramCredentialSet: &UserScramCredentialSet{User: "alice", Credential: scramCred(ScramSHA256, 8192)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	users := img.ScramUsers()
	if len(users) != 1 || len(users[0].Credentials) != 2 || users[0].Credentials[0].Mechanism != ScramSHA256 {
		t.Fatalf("users %+v, want alice with both mechanisms in order", users)
	}
	// Snapshots keep them.
	data, err := img.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalImage(data)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := back.ScramCredential("alice", ScramSHA512); !ok || c.Iterations != 4096 || !bytes.Equal(c.StoredKey, scramCred(ScramSHA512, 4096).StoredKey) {
		t.Fatalf("after a snapshot: %+v, %v", c, ok)
	}
	for name, rec := range map[string]Record{
		"few iterations":  {UserScramCredentialSet: &UserScramCredentialSet{User: "bob", Credential: scramCred(ScramSHA256, 4095)}},
		"many iterations": {UserScramCredentialSet: &UserScramCredentialSet{User: "bob", Credential: scramCred(ScramSHA256, MaxScramIterations+1)}},
		"SHA-1":           {UserScramCredentialSet: &UserScramCredentialSet{User: "bob", Credential: ScramCredential{Mechanism: "SCRAM-SHA-1", Salt: []byte("s"), Iterations: 4096}}},
		"short key":       {UserScramCredentialSet: &UserScramCredentialSet{User: "bob", Credential: ScramCredential{Mechanism: ScramSHA512, Salt: []byte("s"), Iterations: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}}},
		"no user":         {UserScramCredentialSet: &UserScramCredentialSet{Credential: scramCred(ScramSHA256, 4096)}},
	} {
		if _, err := apply(rec); !errors.Is(err, ErrInvalidScramCredential) {
			t.Errorf("%s: %v, want ErrInvalidScramCredential", name, err)
		}
	}
	img, err = apply(Record{UserScramCredentialDeleted: &UserScramCredentialDeleted{User: "alice", Mechanism: ScramSHA256}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.ScramCredential("alice", ScramSHA256); ok {
		t.Fatal("deleted credential still there")
	}
	if _, err := apply(Record{UserScramCredentialDeleted: &UserScramCredentialDeleted{User: "alice", Mechanism: ScramSHA256}}); !errors.Is(err, ErrUnknownScramCredential) {
		t.Fatalf("deleting again: %v", err)
	}
	img, err = apply(Record{UserScramCredentialDeleted: &UserScramCredentialDeleted{User: "alice", Mechanism: ScramSHA512}})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.ScramUsers()) != 0 {
		t.Fatalf("users %+v after deleting every credential", img.ScramUsers())
	}
}
