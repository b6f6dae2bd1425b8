package eventstore

import (
	"strings"
	"time"
)

// decodeMetadataFast decodes the common form of stored metadata without
// reflection: one flat JSON object whose keys and string values are plain
// printable ASCII without escapes, string values for the envelope's string
// fields and an integer schemaVersion. Anything else (escapes, non-ASCII,
// nested values, keys that differ from the envelope's only by case, null,
// invalid JSON) returns ok false, and DecodeMetadata takes the general
// encoding/json path; when ok is true the result is exactly what that path
// returns (FuzzDecodeMetadataFast checks it). Every $all read decodes the
// metadata of every event, so this is on the read path's hot loop.
func decodeMetadataFast(b []byte) (m Metadata, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return Metadata{}, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, skipWS(b, i+1) == len(b)
	}
	var occurred string
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return Metadata{}, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return Metadata{}, false
		}
		i = skipWS(b, i+1)
		if key == "schemaVersion" {
			v, j, ok := plainInt(b, i)
			if !ok {
				return Metadata{}, false
			}
			m.SchemaVersion, i = v, j
		} else {
			val, j, ok := plainString(b, i)
			if !ok {
				return Metadata{}, false
			}
			i = j
			switch key {
			case "$correlationId":
				m.CorrelationID = val
			case "$causationId":
				m.CausationID = val
			case "actor":
				m.Actor = val
			case "commandId":
				m.CommandID = val
			case "occurredAt":
				occurred = val
			case "prevHash":
				m.PrevHash = val
			case "hash":
				m.Hash = val
			default:
				if foldsToField(key) {
					return Metadata{}, false // encoding/json matches keys case-insensitively
				}
			}
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return Metadata{}, false
		}
		if b[i] == '}' {
			if skipWS(b, i+1) != len(b) {
				return Metadata{}, false
			}
			break
		}
		if b[i] != ',' {
			return Metadata{}, false
		}
		i = skipWS(b, i+1)
	}
	if occurred != "" {
		t, err := time.Parse(time.RFC3339Nano, occurred)
		if err != nil {
			return Metadata{}, false
		}
		m.OccurredAt = t.UTC()
	}
	return m, true
}

var metadataFields = []string{"$correlationId", "$causationId", "actor", "commandId", "occurredAt", "schemaVersion", "prevHash", "hash"}

func foldsToField(key string) bool {
	for _, f := range metadataFields {
		if strings.EqualFold(key, f) {
			return true
		}
	}
	return false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] made only of printable ASCII
// without escapes; it returns the value and the index after the quote.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

// plainInt reads a JSON integer of at most 18 digits (no fraction or
// exponent, no leading zeros) at b[i].
func plainInt(b []byte, i int) (int, int, bool) {
	j, neg := i, false
	if j < len(b) && b[j] == '-' {
		neg = true
		j++
	}
	start, v := j, 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-start < 18 {
		v = v*10 + int(b[j]-'0')
		j++
	}
	digits := j - start
	if digits == 0 || (digits > 1 && b[start] == '0') {
		return 0, 0, false
	}
	if j < len(b) {
		switch b[j] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, 0, false
		}
	}
	if neg {
		v = -v
	}
	return v, j, true
}
