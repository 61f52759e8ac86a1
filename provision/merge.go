// Package provision fetches a configuration document from a provisioning
// server, as fleets of ATAs are run: from a URL with the box's MAC address
// and model filled in, or from the URL a DHCP server hands out (option 66
// or 160), at start and on an interval, with conditional requests so an
// unchanged document costs one 304. What a document does to the running
// configuration is the caller's (Options.Apply); Merge is the rule this
// firmware uses: the document's keys over the running ones.
package provision

import (
	"errors"
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// Merge lays the TOML document doc over the TOML document base and returns
// the result as TOML. A table in doc merges key by key into base's table
// of the same name (recursively); any other value in doc, arrays of
// tables ([[line]]) included, replaces base's whole value. Keys doc
// leaves out keep base's values. A doc that is not TOML is an error
// naming where it fails.
func Merge(base, doc []byte) ([]byte, error) {
	var b, d map[string]any
	if err := toml.Unmarshal(base, &b); err != nil {
		return nil, fmt.Errorf("provision: the running configuration: %w", err)
	}
	if err := toml.Unmarshal(doc, &d); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("not TOML: %s (line %d, column %d)", de.Error(), row, col)
		}
		return nil, fmt.Errorf("not TOML: %w", err)
	}
	if b == nil {
		b = map[string]any{}
	}
	mergeTables(b, d)
	out, err := toml.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("provision: merged document: %w", err)
	}
	return out, nil
}

// mergeTables puts src's keys into dst: tables merge, anything else
// replaces.
func mergeTables(dst, src map[string]any) {
	for k, sv := range src {
		st, sIsTable := sv.(map[string]any)
		dt, dIsTable := dst[k].(map[string]any)
		if sIsTable && dIsTable {
			mergeTables(dt, st)
			continue
		}
		dst[k] = sv
	}
}
