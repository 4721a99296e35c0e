package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errTransactionsUnsupported answers every transactional request:
// FindCoordinator for a transactional id, InitProducerId with one, and
// produce requests with one or with transactional batches. Runnel runs no
// transaction coordinator. The code is what Redpanda answers with its
// transactions disabled (UNSUPPORTED_VERSION): clients treat it as fatal and
// fail at once, where COORDINATOR_NOT_AVAILABLE made them retry until their
// timeouts and TRANSACTIONAL_ID_AUTHORIZATION_FAILED read like a missing ACL.
var errTransactionsUnsupported = fmt.Errorf("%w: transactions are not supported by Runnel (it runs no transaction coordinator); "+
	"produce without a transactional id (idempotent producers work)", kerr.UnsupportedVersion)
