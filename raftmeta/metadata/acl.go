package metadata

import (
	"cmp"
	"errors"
	"slices"
	"strings"
)

// ACLs (Kafka's access control lists, as CreateAcls stores them). The codes
// are Kafka's: resource types 2 topic, 3 group, 4 cluster, 5 transactional
// id, 6 delegation token, 7 user; pattern types 3 literal, 4 prefixed;
// operations 2 (all) to 14; permissions 2 deny, 3 allow. A stored ACL is
// concrete: no "any" or "match" codes, which only filters use.

// Kafka's codes used by validation.
const (
	ACLPatternLiteral  int8 = 3
	ACLPatternPrefixed int8 = 4
	ACLResourceCluster int8 = 4
	// ACLClusterName is the name of the one cluster resource.
	ACLClusterName = "kafka-cluster"
)

// ErrInvalidACL means an ACL has an unknown or non-concrete code, an empty
// name, or a principal not of the form "User:<name>".
var ErrInvalidACL = errors.New("metadata: invalid ACL")

// ErrUnknownACL means an ACL to delete is not stored.
var ErrUnknownACL = errors.New("metadata: unknown ACL")

// ACL is one access control entry bound to a resource pattern.
type ACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

// ACLsCreated stores ACLs; those stored already stay as they are.
type ACLsCreated struct {
	ACLs []ACL `json:"acls"`
}

// ACLsDeleted removes ACLs, each of which must be stored.
type ACLsDeleted struct {
	ACLs []ACL `json:"acls"`
}

// Validate reports what makes a an ACL that cannot be stored.
func (a *ACL) Validate() error {
	switch {
	case a.ResourceType < 2 || a.ResourceType > 7:
		return rejectf(ErrInvalidACL, "resource type %d", a.ResourceType)
	case a.PatternType != ACLPatternLiteral && a.PatternType != ACLPatternPrefixed:
		return rejectf(ErrInvalidACL, "pattern type %d; want literal (3) or prefixed (4)", a.PatternType)
	case a.ResourceName == "" || len(a.ResourceName) > 1024:
		return rejectf(ErrInvalidACL, "resource name must be 1..1024 bytes")
	case a.ResourceType == ACLResourceCluster && (a.ResourceName != ACLClusterName || a.PatternType != ACLPatternLiteral):
		return rejectf(ErrInvalidACL, "the cluster resource is the literal %q", ACLClusterName)
	case !strings.HasPrefix(a.Principal, "User:") || len(a.Principal) == len("User:") || len(a.Principal) > 1024:
		return rejectf(ErrInvalidACL, "principal %q; want User:<name>", a.Principal)
	case a.Host == "" || len(a.Host) > 255:
		return rejectf(ErrInvalidACL, "host must be 1..255 bytes")
	case a.Operation < 2 || a.Operation > 14:
		return rejectf(ErrInvalidACL, "operation %d", a.Operation)
	case a.Permission != 2 && a.Permission != 3:
		return rejectf(ErrInvalidACL, "permission %d; want deny (2) or allow (3)", a.Permission)
	}
	return nil
}

func compareACL(a, b ACL) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType), cmp.Compare(a.Principal, b.Principal),
		cmp.Compare(a.Host, b.Host), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission),
	)
}

// ACLs returns the stored ACLs, ordered. The slice must not be changed.
func (img *Image) ACLs() []ACL { return img.acls }

func (w *writer) aclsCreated(r *ACLsCreated) error {
	acls := slices.Clone(w.img.acls)
	for _, a := range r.ACLs {
		if err := a.Validate(); err != nil {
			return err
		}
		if i, found := slices.BinarySearchFunc(acls, a, compareACL); !found {
			acls = slices.Insert(acls, i, a)
		}
	}
	w.img.acls = acls
	return nil
}

func (w *writer) aclsDeleted(r *ACLsDeleted) error {
	acls := slices.Clone(w.img.acls)
	for _, a := range r.ACLs {
		i, found := slices.BinarySearchFunc(acls, a, compareACL)
		if !found {
			return rejectf(ErrUnknownACL, "%+v", a)
		}
		acls = slices.Delete(acls, i, i+1)
	}
	w.img.acls = acls
	return nil
}

// loadACLs puts a snapshot's ACLs into img, checking them.
func loadACLs(img *Image, acls []ACL) error {
	for i := range acls {
		if err := acls[i].Validate(); err != nil {
			return err
		}
		if i > 0 && compareACL(acls[i-1], acls[i]) >= 0 {
			return rejectf(ErrInvalidACL, "ACLs not ordered or duplicated")
		}
	}
	img.acls = acls
	return nil
}
