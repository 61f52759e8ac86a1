package sip

import (
	"fmt"

	"github.com/openata/ata/call"
)

// causeOf maps a final SIP status that ended a call to its call.Cause.
func causeOf(code int) call.Cause {
	switch {
	case code == 486 || code == 600:
		return call.Busy
	case code == 603:
		return call.Declined
	case code == 404 || code == 604:
		return call.NotFound
	case code == 480:
		return call.Unavailable
	case code == 487:
		return call.Cancelled
	case code == 408:
		return call.NoResponse
	case code == 484:
		return call.Incomplete
	case code == 488 || code == 606:
		return call.MediaFailed
	case code == 433:
		return call.Anonymous
	case code >= 300 && code < 400:
		return call.Redirected
	case code >= 400 && code < 500:
		return call.Rejected
	case code >= 500 && code < 600:
		return call.Congestion
	case code >= 600 && code < 700:
		return call.Declined
	}
	return call.Failed
}

// statusOf is the SIP status we answer with to refuse a call (or report
// a failed transfer) for cause.
func statusOf(c call.Cause) int {
	switch c {
	case call.Busy:
		return 486
	case call.Declined:
		return 603
	case call.NotFound:
		return 404
	case call.Unavailable, call.Normal:
		return 480
	case call.Cancelled:
		return 487
	case call.NoResponse:
		return 408
	case call.Incomplete:
		return 484
	case call.Congestion, call.Shutdown:
		return 503
	case call.Rejected:
		return 403
	case call.MediaFailed:
		return 488
	case call.Anonymous:
		return 433
	case call.Redirected:
		return 302
	}
	return 500
}

// statusPhrase is the reason phrase of a status (RFC 3261 §21 and the
// extensions we use).
func statusPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 202:
		return "Accepted"
	case 302:
		return "Moved Temporarily"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 415:
		return "Unsupported Media Type"
	case 433:
		return "Anonymity Disallowed"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 484:
		return "Address Incomplete"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 604:
		return "Does Not Exist Anywhere"
	}
	return "Error"
}

// statusDetail is "486 Busy Here": the status and the phrase received
// (ours when it came without one).
func statusDetail(code int, reason string) string {
	if reason == "" {
		reason = statusPhrase(code)
	}
	return fmt.Sprintf("%d %s", code, reason)
}
