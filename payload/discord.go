package payload

// discord renders a Discord webhook message
// (https://discord.com/developers/docs/resources/webhook#execute-webhook):
// the summary as content and one embed, coloured by level, with the
// title, the message and the event's level, source and type. It keeps to
// Discord's limits by cutting text with an ellipsis, and allows no
// mentions, so that an event cannot ping @everyone.
type discord struct{ described }

func compileDiscord(spec *Spec, c *compiler) renderer { return &discord{c.described(spec)} }

// Discord's limits, in characters.
const (
	discordContentMax     = 2000
	discordTitleMax       = 256
	discordDescriptionMax = 4096
	discordFieldNameMax   = 256
	discordFieldValueMax  = 1024
	discordFieldsMax      = 25
	discordEmbedMax       = 6000 // title, description and fields together
)

type discordMessage struct {
	Content         string         `json:"content"`
	Embeds          []discordEmbed `json:"embeds"`
	AllowedMentions struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Timestamp   string         `json:"timestamp,omitempty"`
	Fields      []discordField `json:"fields,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// discordColors colour an embed by severity.
var discordColors = map[string]int{"critical": 0x8B0000, "error": 0xE74C3C, "warning": 0xF1C40F, "info": 0x3498DB}

func (d *discord) render(req *Request, in *Input, _ *scratch) error {
	f, err := d.facts(in)
	if err != nil {
		return err
	}
	embed := discordEmbed{Title: cut(f.title, discordTitleMax), Color: discordColors[severity(f.level)], Timestamp: f.time}
	used := units(embed.Title)
	for _, kv := range [][2]string{{"Level", f.level}, {"Source", f.source}, {"Type", f.typ}} {
		if kv[1] == "" || len(embed.Fields) == discordFieldsMax {
			continue
		}
		field := discordField{Name: cut(kv[0], discordFieldNameMax), Value: cut(kv[1], discordFieldValueMax), Inline: true}
		used += units(field.Name) + units(field.Value)
		embed.Fields = append(embed.Fields, field)
	}
	if f.message != "" {
		// The description takes what the embed's total leaves.
		embed.Description = cut(f.message, min(discordDescriptionMax, discordEmbedMax-used))
	}
	msg := discordMessage{Content: cut(f.summary, discordContentMax), Embeds: []discordEmbed{embed}}
	msg.AllowedMentions.Parse = []string{}
	req.Header = standardHeader
	req.Body, err = appendJSON(req.Body, &msg)
	return err
}
