package tiering

import (
	"slices"
	"strings"
)

func sortObjects(objs []ObjectInfo) {
	slices.SortFunc(objs, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
}
