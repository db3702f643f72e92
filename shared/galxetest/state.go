package galxetest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// MaxItemsPerCall is Galxe's documented limit for one credentialItems call.
const MaxItemsPerCall = 500

// Credential is a credential the stand-in keeps: metadata and a set of items.
type Credential struct {
	ID, Name, Description, CredType, CredSource, Chain string
	Items                                              []string
}

// Quest is a quest the stand-in keeps. Credentials names the credentials
// whose holders are eligible.
type Quest struct {
	ID, Name, Type, Status string
	SpaceID                int32
	Cap, Participants      int32
	Credentials            []string
}

// Space is a space with its loyalty-points leaderboard, best first.
type Space struct {
	ID          int32
	Name        string
	Leaderboard []Rank
}

// Rank is one leaderboard row.
type Rank struct {
	Points   int32
	Address  string
	Username string
}

type credential struct {
	meta       Credential
	items      map[string]struct{}
	lastUpdate time.Time
	received   int // items sent to it over all mutations, duplicates included
}

type quest struct{ Quest }

// apiError is an error with Galxe's extensions; graphql-go puts them in
// the answer's errors[].extensions.
type apiError struct {
	code, category, message string
	status                  int
}

func (e *apiError) Error() string { return e.message }
func (e *apiError) Extensions() map[string]any {
	return map[string]any{"code": e.code, "category": e.category, "http_status": e.status}
}

func notFound(code, what, id string) error {
	return &apiError{code: code, category: "NOT_FOUND", status: 404, message: fmt.Sprintf("%s not found: %s", what, id)}
}

func invalid(code, msg string) error {
	return &apiError{code: code, category: "VALIDATION", status: 400, message: msg}
}

var evmAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// AddCredential stores (or replaces) a credential.
func (s *Server) AddCredential(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := &credential{meta: c, items: make(map[string]struct{}, len(c.Items)), lastUpdate: time.Now()}
	for _, it := range c.Items {
		cr.items[it] = struct{}{}
	}
	cr.meta.Items = nil
	s.credentials[c.ID] = cr
}

// AddQuest stores (or replaces) a quest.
func (s *Server) AddQuest(q Quest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quests[q.ID] = &quest{q}
}

// AddSpace stores (or replaces) a space.
func (s *Server) AddSpace(sp Space) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := sp
	s.spaces[sp.ID] = &cp
}

// Items returns a credential's items, sorted.
func (s *Server) Items(credID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.credentials[credID]
	if c == nil {
		return nil
	}
	return sortedItems(c)
}

// Held reports how many distinct items a credential holds (Items without
// the copy and the sort, for polling).
func (s *Server) Held(credID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.credentials[credID]; c != nil {
		return len(c.items)
	}
	return 0
}

// Received reports how many items credentialItems calls have carried to a
// credential, duplicates included: with Items it shows nothing was sent twice.
func (s *Server) Received(credID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.credentials[credID]; c != nil {
		return c.received
	}
	return 0
}

func sortedItems(c *credential) []string {
	out := make([]string, 0, len(c.items))
	for it := range c.items {
		out = append(out, it)
	}
	slices.Sort(out)
	return out
}

// The resolvers. Each reads state under the server's lock and returns copies.

type rootResolver struct{ s *Server }

type pageInfo struct {
	EndCursor   *string
	HasNextPage bool
}

type credentialResolver struct {
	ID                                             graphql.ID
	Name, Description, CredType, CredSource, Chain string
	ItemCount, LastUpdate                          int32
	SyncStatus                                     string
	s                                              *Server
}

type itemConnection struct {
	TotalCount int32
	PageInfo   pageInfo
	List       []string
}

func (s *Server) credentialLocked(id string) *credentialResolver {
	c := s.credentials[id]
	if c == nil {
		return nil
	}
	m := c.meta
	return &credentialResolver{ID: graphql.ID(m.ID), Name: m.Name, Description: m.Description, CredType: m.CredType,
		CredSource: m.CredSource, Chain: m.Chain, ItemCount: int32(len(c.items)),
		LastUpdate: int32(c.lastUpdate.Unix()), SyncStatus: "SYNCED", s: s}
}

func (r *rootResolver) Credential(args struct{ ID graphql.ID }) (*credentialResolver, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	c := r.s.credentialLocked(string(args.ID))
	if c == nil {
		return nil, notFound("CREDENTIAL_NOT_FOUND", "Credential", string(args.ID))
	}
	return c, nil
}

func (c *credentialResolver) Eligible(args struct{ Address string }) (int32, error) {
	addr := args.Address
	if strings.HasPrefix(addr, "0x") {
		if !evmAddress.MatchString(addr) {
			return 0, invalid("INVALID_ADDRESS", "Invalid address: "+addr)
		}
		addr = strings.ToLower(addr)
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if cr := c.s.credentials[string(c.ID)]; cr != nil {
		if _, ok := cr.items[addr]; ok {
			return 1, nil
		}
	}
	return 0, nil
}

func (c *credentialResolver) CredentialItems(args struct {
	First *int32
	After *string
}) (*itemConnection, error) {
	c.s.mu.Lock()
	cr := c.s.credentials[string(c.ID)]
	var items []string
	if cr != nil {
		items = sortedItems(cr)
	}
	c.s.mu.Unlock()
	start, end, err := page(len(items), args.First, args.After, 100, 1000)
	if err != nil {
		return nil, err
	}
	return &itemConnection{TotalCount: int32(len(items)), PageInfo: pageInfoFor(end, len(items)), List: items[start:end]}, nil
}

// page turns first/after into bounds. Cursors are opaque to clients; here
// they are offsets.
func page(total int, first *int32, after *string, def, limit int) (int, int, error) {
	n := def
	if first != nil {
		if *first < 0 || int(*first) > limit {
			return 0, 0, invalid("INVALID_ARGUMENT", fmt.Sprintf("first must be between 0 and %d", limit))
		}
		n = int(*first)
	}
	start := 0
	if after != nil && *after != "" {
		off, err := strconv.Atoi(*after)
		if err != nil || off < 0 {
			return 0, 0, invalid("INVALID_ARGUMENT", "invalid cursor")
		}
		start = min(off, total)
	}
	return start, min(start+n, total), nil
}

func pageInfoFor(end, total int) pageInfo {
	cur := strconv.Itoa(end)
	return pageInfo{EndCursor: &cur, HasNextPage: end < total}
}

type mutateInput struct {
	CredID    graphql.ID
	Operation string
	Items     []string
}

func (r *rootResolver) CredentialItems(args struct{ Input mutateInput }) (*credentialResolver, error) {
	in := args.Input
	if len(in.Items) > MaxItemsPerCall {
		return nil, invalid("INVALID_ARGUMENT", fmt.Sprintf("too many items: %d > %d", len(in.Items), MaxItemsPerCall))
	}
	for _, it := range in.Items {
		if strings.HasPrefix(it, "0x") && !evmAddress.MatchString(it) {
			return nil, invalid("INVALID_ADDRESS", "Invalid address: "+it)
		}
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for _, it := range in.Items {
		if r.s.refused[it] {
			return nil, invalid("INVALID_ADDRESS", "Invalid address: "+it)
		}
	}
	c := r.s.credentials[string(in.CredID)]
	if c == nil {
		return nil, notFound("CREDENTIAL_NOT_FOUND", "Credential", string(in.CredID))
	}
	c.received += len(in.Items)
	switch in.Operation {
	case "APPEND":
		for _, it := range in.Items {
			c.items[it] = struct{}{}
		}
	case "REMOVE":
		for _, it := range in.Items {
			delete(c.items, it)
		}
	case "REPLACE":
		c.items = make(map[string]struct{}, len(in.Items))
		for _, it := range in.Items {
			c.items[it] = struct{}{}
		}
	}
	c.lastUpdate = time.Now()
	return r.s.credentialLocked(c.meta.ID), nil
}

type spaceResolver struct {
	ID   graphql.ID
	Name string
	s    *Server
	key  int32
}

type questResolver struct {
	ID                     graphql.ID
	Name, Type, Status     string
	StartTime, EndTime     int32
	Cap, ParticipantsCount int32
	Space                  *spaceResolver
	q                      Quest
	s                      *Server
}

func (s *Server) questLocked(q *quest) *questResolver {
	var sp *spaceResolver
	if x := s.spaces[q.SpaceID]; x != nil {
		sp = &spaceResolver{ID: graphql.ID(strconv.Itoa(int(x.ID))), Name: x.Name, s: s, key: x.ID}
	} else {
		sp = &spaceResolver{ID: graphql.ID(strconv.Itoa(int(q.SpaceID))), s: s, key: q.SpaceID}
	}
	now := time.Now()
	return &questResolver{ID: graphql.ID(q.ID), Name: q.Name, Type: q.Type, Status: q.Status,
		StartTime: int32(now.Add(-24 * time.Hour).Unix()), EndTime: int32(now.Add(30 * 24 * time.Hour).Unix()),
		Cap: q.Cap, ParticipantsCount: q.Participants, Space: sp, q: q.Quest, s: s}
}

func (r *rootResolver) Quest(args struct{ ID graphql.ID }) (*questResolver, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	q := r.s.quests[string(args.ID)]
	if q == nil {
		return nil, notFound("QUEST_NOT_FOUND", "Quest", string(args.ID))
	}
	return r.s.questLocked(q), nil
}

type condition struct {
	Expression string
	Eligible   bool
}

type reward struct {
	Expression, RewardType string
	Eligible               bool
}

type credentialGroup struct {
	ID                graphql.ID
	ConditionRelation string
	Conditions        []condition
	Rewards           []reward
}

func (q *questResolver) CredentialGroups(args struct{ Address string }) ([]credentialGroup, error) {
	addr := args.Address
	if strings.HasPrefix(addr, "0x") {
		if !evmAddress.MatchString(addr) {
			return nil, invalid("INVALID_ADDRESS", "Invalid address: "+addr)
		}
		addr = strings.ToLower(addr)
	}
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	groups := make([]credentialGroup, 0, len(q.q.Credentials))
	for i, id := range q.q.Credentials {
		eligible := false
		if c := q.s.credentials[id]; c != nil {
			_, eligible = c.items[addr]
		}
		groups = append(groups, credentialGroup{
			ID:                graphql.ID(fmt.Sprintf("%s-%d", q.q.ID, i)),
			ConditionRelation: "ALL",
			Conditions:        []condition{{Expression: "credential:" + id, Eligible: eligible}},
			Rewards:           []reward{{Expression: "points:10", RewardType: "LOYALTYPOINTS", Eligible: eligible}},
		})
	}
	return groups, nil
}

type listQuestInput struct {
	SpaceID  int32
	Statuses *[]string
	Types    *[]string
	First    *int32
	After    *string
}

type questConnection struct {
	TotalCount int32
	PageInfo   pageInfo
	List       []*questResolver
}

func (r *rootResolver) Quests(args struct{ Input listQuestInput }) (*questConnection, error) {
	in := args.Input
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.s.spaces[in.SpaceID] == nil {
		return nil, notFound("SPACE_NOT_FOUND", "Space", strconv.Itoa(int(in.SpaceID)))
	}
	var match []*questResolver
	for _, q := range r.s.quests {
		if q.SpaceID != in.SpaceID ||
			(in.Statuses != nil && !slices.Contains(*in.Statuses, q.Status)) ||
			(in.Types != nil && !slices.Contains(*in.Types, q.Type)) {
			continue
		}
		match = append(match, r.s.questLocked(q))
	}
	slices.SortFunc(match, func(a, b *questResolver) int { return strings.Compare(string(a.ID), string(b.ID)) })
	start, end, err := page(len(match), in.First, in.After, 20, 100)
	if err != nil {
		return nil, err
	}
	return &questConnection{TotalCount: int32(len(match)), PageInfo: pageInfoFor(end, len(match)), List: match[start:end]}, nil
}

func (r *rootResolver) Space(args struct{ ID int32 }) (*spaceResolver, error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	sp := r.s.spaces[args.ID]
	if sp == nil {
		return nil, notFound("SPACE_NOT_FOUND", "Space", strconv.Itoa(int(args.ID)))
	}
	return &spaceResolver{ID: graphql.ID(strconv.Itoa(int(sp.ID))), Name: sp.Name, s: r.s, key: sp.ID}, nil
}

type rankRow struct {
	Rank, Points int32
	Address      address
}

type address struct{ Address, Username string }

type rankConnection struct {
	TotalCount int32
	PageInfo   pageInfo
	List       []rankRow
}

// leaderboardPage is how many rows one loyaltyPointsRanks page holds.
const leaderboardPage = 50

func (sp *spaceResolver) LoyaltyPointsRanks(args struct {
	CursorAfter *string
	SprintID    *int32
}) (*rankConnection, error) {
	sp.s.mu.Lock()
	var rows []Rank
	if x := sp.s.spaces[sp.key]; x != nil {
		rows = slices.Clone(x.Leaderboard)
	}
	sp.s.mu.Unlock()
	n := int32(leaderboardPage)
	start, end, err := page(len(rows), &n, args.CursorAfter, leaderboardPage, leaderboardPage)
	if err != nil {
		return nil, err
	}
	out := make([]rankRow, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, rankRow{Rank: int32(i + 1), Points: rows[i].Points, Address: address{rows[i].Address, rows[i].Username}})
	}
	return &rankConnection{TotalCount: int32(len(rows)), PageInfo: pageInfoFor(end, len(rows)), List: out}, nil
}
