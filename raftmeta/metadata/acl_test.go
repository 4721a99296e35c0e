package metadata

import (
	"errors"
	"testing"
)

func TestACLRecords(t *testing.T) {
	img := NewImage()
	allowRead := ACL{ResourceType: 2, ResourceName: "a", PatternType: ACLPatternPrefixed, Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}
	cluster := ACL{ResourceType: ACLResourceCluster, ResourceName: ACLClusterName, PatternType: ACLPatternLiteral, Principal: "User:root", Host: "*", Operation: 2, Permission: 3}
	apply := func(r Record) (*Image, error) {
		b, err := Decode(MustEncode(Batch{Records: []Record{r}}))
		if err != nil {
			return nil, err
		}
		return img.Apply(img.Version()+1, b)
	}
	var err error
	if img, err = apply(Record{ACLsCreated: &ACLsCreated{ACLs: []ACL{cluster, allowRead, allowRead}}}); err != nil {
		t.Fatal(err)
	}
	if got := img.ACLs(); len(got) != 2 || got[0] != allowRead {
		t.Fatalf("ACLs %+v", got)
	}
	data, err := img.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalImage(data)
	if err != nil || len(back.ACLs()) != 2 {
		t.Fatalf("after a snapshot: %+v, %v", back.ACLs(), err)
	}
	for name, a := range map[string]ACL{
		"any type":      {ResourceType: 1, ResourceName: "a", PatternType: 3, Principal: "User:x", Host: "*", Operation: 3, Permission: 3},
		"match pattern": {ResourceType: 2, ResourceName: "a", PatternType: 2, Principal: "User:x", Host: "*", Operation: 3, Permission: 3},
		"group princ":   {ResourceType: 2, ResourceName: "a", PatternType: 3, Principal: "Group:x", Host: "*", Operation: 3, Permission: 3},
		"other cluster": {ResourceType: 4, ResourceName: "c", PatternType: 3, Principal: "User:x", Host: "*", Operation: 2, Permission: 3},
	} {
		if _, err := apply(Record{ACLsCreated: &ACLsCreated{ACLs: []ACL{a}}}); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("%s: %v, want ErrInvalidACL", name, err)
		}
	}
	if img, err = apply(Record{ACLsDeleted: &ACLsDeleted{ACLs: []ACL{allowRead}}}); err != nil || len(img.ACLs()) != 1 {
		t.Fatalf("delete: %v, %+v", err, img.ACLs())
	}
	if _, err := apply(Record{ACLsDeleted: &ACLsDeleted{ACLs: []ACL{allowRead}}}); !errors.Is(err, ErrUnknownACL) {
		t.Fatalf("delete again: %v", err)
	}
}
