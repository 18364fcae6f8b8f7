// Package host models what lives on a sandbox instance that the AWS APIs
// cannot see — firewall rules, the agent's proxy environment, routes, ENA
// counters, container runtimes — and turns that state into the on-host
// report the diagnose document prints (DESIGN §3). The zero State is a
// healthy Amazon Linux 2023 host with a running, current agent.
package host

// State is one instance's on-host state. Zero values mean healthy.
type State struct {
	// OS is the distribution id: "al2023" (default), "al2", "ubuntu22.04",
	// "rhel9", "sles15", "windows2022".
	OS string `yaml:"os,omitempty" json:"os,omitempty"`
	// Agent is the SSM agent as the host sees it.
	Agent Agent `yaml:"agent,omitempty" json:"agent,omitempty"`
	// Firewall lists host firewall rules that match 169.254.169.254.
	Firewall []Rule `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	// AgentEnv is the agent process's environment (proxy variables).
	AgentEnv map[string]string `yaml:"agentEnv,omitempty" json:"agentEnv,omitempty"`
	// SystemEnv is /etc/environment.
	SystemEnv map[string]string `yaml:"systemEnv,omitempty" json:"systemEnv,omitempty"`
	// NoRouteToIMDS makes `ip route get 169.254.169.254` fail.
	NoRouteToIMDS bool `yaml:"noRouteToIMDS,omitempty" json:"noRouteToIMDS,omitempty"`
	// PolicyRoutesLost models amazon-ec2-net-utils refresh-policy-routes
	// having dropped the policy routes of a secondary interface.
	PolicyRoutesLost bool `yaml:"policyRoutesLost,omitempty" json:"policyRoutesLost,omitempty"`
	// NetUtilsVersion is the amazon-ec2-net-utils version ("" when absent).
	NetUtilsVersion string `yaml:"netUtilsVersion,omitempty" json:"netUtilsVersion,omitempty"`
	// LinkLocalAllowanceExceeded is the ENA counter of the primary interface.
	LinkLocalAllowanceExceeded int64 `yaml:"linkLocalAllowanceExceeded,omitempty" json:"linkLocalAllowanceExceeded,omitempty"`
	// ContainerRuntimes present on the host: docker, containerd, kubelet, crio.
	ContainerRuntimes []string `yaml:"containerRuntimes,omitempty" json:"containerRuntimes,omitempty"`
	// ClockSkewSeconds is the host clock minus true time.
	ClockSkewSeconds int `yaml:"clockSkewSeconds,omitempty" json:"clockSkewSeconds,omitempty"`
	// EndpointFailures maps an SSM endpoint service (ssm, ec2messages,
	// ssmmessages) to how reaching it fails: "dns", "refused" or "timeout".
	EndpointFailures map[string]string `yaml:"endpointFailures,omitempty" json:"endpointFailures,omitempty"`
	// IMDSStatus forces the IMDS answer the host sees: 0 (derive from the
	// instance's MetadataOptions and the firewall), or an HTTP status such
	// as 401, 403, 404.
	IMDSStatus int `yaml:"imdsStatus,omitempty" json:"imdsStatus,omitempty"`
}

// Agent is the SSM agent's on-host state.
type Agent struct {
	// NotInstalled means no agent binary or service exists.
	NotInstalled bool `yaml:"notInstalled,omitempty" json:"notInstalled,omitempty"`
	// Stopped means the service is installed but not running.
	Stopped bool `yaml:"stopped,omitempty" json:"stopped,omitempty"`
	// User the agent runs as; "" means root.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// LogErrors are recent credential errors in the agent's log, e.g.
	// "EC2RoleRequestError: no EC2 instance role found".
	LogErrors []string `yaml:"logErrors,omitempty" json:"logErrors,omitempty"`
}

// Rule is one host firewall rule matching 169.254.169.254.
type Rule struct {
	// Tool is iptables, ip6tables, nftables, ufw, firewalld or windows.
	Tool string `yaml:"tool" json:"tool"`
	// Text is the rule as the tool prints it, e.g.
	// "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT".
	Text string `yaml:"text" json:"text"`
	// Action is REJECT or DROP (DROP makes probes time out).
	Action string `yaml:"action" json:"action"`
	// UIDRange limits the rule to an owner range "1000-10000"; "" is everyone.
	UIDRange string `yaml:"uidRange,omitempty" json:"uidRange,omitempty"`
}
