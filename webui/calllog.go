package webui

import "strings"

// callRow is one line of the call log page: the record with its end cause
// in words.
type callRow struct {
	CallRecord
	Result string // the cause in words: "Busy", "Transferred"
	Why    string // the signalling's words ("486 Busy Here"), if any
	// A call the router joined: caller → callee, the route and who
	// answered in words, who hung up.
	Routed      bool
	FromTo      string
	RouteText   string
	EndedByText string
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
	if r.From != "" {
		routedRow(&row)
	}
	return row
}

// routedRow words a call the router joined. The backend writes a user's
// call as "out" (Name: the user, Number: what it dialled) and a call in on
// a line or trunk as "in" (Number: the caller).
func routedRow(row *callRow) {
	r := row.CallRecord
	row.Routed = true
	caller, callee := r.Number, r.AnsweredBy
	if r.Direction == "out" {
		caller, callee = r.Name, r.Number
	}
	if caller == "" {
		caller = "anonymous"
	}
	if callee == "" {
		callee = "no answer"
	}
	row.FromTo = caller + " → " + callee
	var parts []string
	if r.Route != "" {
		parts = append(parts, "via "+r.Route)
	} else {
		parts = append(parts, "internal")
	}
	if r.AnsweredBy != "" {
		parts = append(parts, "answered by "+r.AnsweredBy)
	}
	row.RouteText = strings.Join(parts, ", ")
	switch r.EndedBy {
	case "caller":
		row.EndedByText = "Caller (" + caller + ")"
	case "callee":
		row.EndedByText = "Callee (" + callee + ")"
	}
}
