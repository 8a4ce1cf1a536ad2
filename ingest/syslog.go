package ingest

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/event"
)

// syslogSeverities are the names of syslog severities 0–7 (RFC 5424), as
// rsyslog's syslogseverity-text gives them.
var syslogSeverities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// syslogAliases are other names of the severities.
var syslogAliases = map[string]int{"emergency": 0, "panic": 0, "critical": 2, "error": 3, "warn": 4}

// syslogLevels maps severities 0–7 onto levels: emerg, alert, crit and
// err are errors, warning a warning, notice and info information, debug
// debugging.
var syslogLevels = []string{"error", "error", "error", "error", "warn", "info", "info", "debug"}

// syslogFacilities are the names of facilities 0–23, as rsyslog's
// syslogfacility-text gives them.
var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
	"cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// syslog reads a syslog message as rsyslog writes it with a JSON
// template (its %jsonmesg% property, or a template of its own naming the
// usual properties: msg, syslogseverity, syslogfacility, programname,
// hostname, timereported, procid, msgid; or severity, facility, host,
// program, message, @timestamp):
//
//	{"type": msgid or "syslog.<facility>", "level": from the severity,
//	 "source": the program, "message": msg, "timestamp": timereported,
//	 "format": "syslog-json", "severity", "severity_name", "facility",
//	 "facility_name", "hostname", "program", "pid", "msgid", "syslog": the object}
func (r *Reader) syslog(rec *kgo.Record) (*event.Event, error) {
	if err := r.check(rec.Value, ReasonInvalidSyslog, "syslog-json"); err != nil {
		return nil, err
	}
	m := scalars(rec.Value, syslogKeys)
	defer putScalars(m)
	msg, ok := m["msg"]
	if !ok {
		if msg, ok = m["message"]; !ok {
			return nil, poison(ReasonInvalidSyslog, "syslog-json", "no msg or message string")
		}
	}
	sev := severityOf(m)
	fac := facilityOf(m)
	program, pid := programOf(m)
	host := firstOf(m, "hostname", "host", "fromhost")
	msgid := firstOf(m, "msgid")
	k := known{typ: msgid, source: program, message: strings.TrimSpace(msg)}
	if sev >= 0 {
		k.level = syslogLevels[sev]
	}
	if k.typ == "" {
		k.typ = "syslog"
		if fac >= 0 {
			k.typ += "." + syslogFacilities[fac]
		}
	}
	for _, key := range []string{"timereported", "timestamp", "@timestamp", "timegenerated"} {
		if t, ok := timeText(m[key]); ok {
			k.time = t
			break
		}
	}
	d := make([]byte, 0, len(rec.Value)+160)
	if sev >= 0 {
		d = strconv.AppendInt(member(d, "severity"), int64(sev), 10)
		d = stringMember(d, "severity_name", syslogSeverities[sev])
	}
	if fac >= 0 {
		d = strconv.AppendInt(member(d, "facility"), int64(fac), 10)
		d = stringMember(d, "facility_name", syslogFacilities[fac])
	}
	d = stringMember(d, "hostname", host)
	d = stringMember(d, "program", program)
	d = stringMember(d, "pid", pid)
	d = stringMember(d, "msgid", msgid)
	d = append(member(d, "syslog"), bytes.TrimSpace(rec.Value)...)
	return r.write(rec, "syslog-json", k, d)
}

// syslogKeys are the members a syslog message is read from.
var syslogKeys = newKeySet("msg", "message", "syslogseverity", "severity", "syslogseverity-text", "level", "pri",
	"syslogfacility", "facility", "syslogfacility-text", "programname", "app-name", "appname", "program",
	"procid", "pid", "syslogtag", "tag", "hostname", "host", "fromhost", "msgid", "timereported", "timestamp",
	"@timestamp", "timegenerated")

// severityOf is the message's severity, 0–7, or -1 when it has none.
func severityOf(m map[string]string) int {
	for _, key := range []string{"syslogseverity", "severity", "syslogseverity-text", "level"} {
		if s := m[key]; s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				if n >= 0 && n <= 7 {
					return n
				}
				continue
			}
			s = strings.ToLower(s)
			for i, name := range syslogSeverities {
				if s == name {
					return i
				}
			}
			if n, ok := syslogAliases[s]; ok {
				return n
			}
		}
	}
	if n, err := strconv.Atoi(m["pri"]); err == nil && n >= 0 && n < 192 {
		return n & 7
	}
	return -1
}

// facilityOf is the message's facility, 0–23, or -1 when it has none.
func facilityOf(m map[string]string) int {
	for _, key := range []string{"syslogfacility", "facility", "syslogfacility-text"} {
		if s := m[key]; s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				if n >= 0 && n < len(syslogFacilities) {
					return n
				}
				continue
			}
			for i, name := range syslogFacilities {
				if strings.EqualFold(s, name) {
					return i
				}
			}
		}
	}
	if n, err := strconv.Atoi(m["pri"]); err == nil && n >= 0 && n < 192 {
		return n >> 3
	}
	return -1
}

// programOf is the program that logged the message and its process id,
// from programname, app-name or program, else from the tag ("sshd[42]:").
func programOf(m map[string]string) (program, pid string) {
	program = firstOf(m, "programname", "app-name", "appname", "program")
	pid = firstOf(m, "procid", "pid")
	if tag := firstOf(m, "syslogtag", "tag"); tag != "" && (program == "" || pid == "") {
		tag = strings.TrimSuffix(strings.TrimSpace(tag), ":")
		name, rest, hasPID := strings.Cut(tag, "[")
		if program == "" {
			program = name
		}
		if pid == "" && hasPID {
			pid = strings.TrimSuffix(rest, "]")
		}
	}
	return program, pid
}
