package webui

import "strings"

// callRow is one line of the call log page: the record with its end cause
// in words.
type callRow struct {
	CallRecord
	Result string // the cause in words: "Busy", "Transferred"
	Why    string // the signalling's words ("486 Busy Here"), if any
}

// causeWords are the call log's end causes (call.Cause names) in words.
var causeWords = map[string]string{
	"normal":       "Completed",
	"busy":         "Busy",
	"declined":     "Declined",
	"not-found":    "Number not found",
	"unavailable":  "Unavailable",
	"cancelled":    "Cancelled",
	"no-response":  "No response",
	"incomplete":   "Incomplete number",
	"congestion":   "Network congestion",
	"rejected":     "Rejected",
	"media-failed": "No common codec",
	"transferred":  "Transferred",
	"replaced":     "Replaced",
	"redirected":   "Redirected",
	"anonymous":    "Anonymous call refused",
	"shutdown":     "Firmware stopped",
	"failed":       "Failed",
}

func newCallRow(r CallRecord) callRow {
	row := callRow{CallRecord: r, Why: r.Detail}
	cause, rest, _ := strings.Cut(r.Cause, ":")
	if w, ok := causeWords[cause]; ok {
		row.Result = w
		// "failed: dial: no route" carries its reason in the cause.
		if rest = strings.TrimSpace(rest); rest != "" && row.Why == "" {
			row.Why = rest
		}
	} else {
		row.Result = r.Cause // an older log's free text, shown as it is
	}
	if r.ForwardedTo != "" {
		row.Result = "Forwarded to " + r.ForwardedTo
	}
	if row.Result == "" {
		row.Result = "–"
	}
	return row
}
