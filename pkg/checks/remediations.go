package checks

// SSM Automation runbooks that carry fleetdoctor's automatic fixes
// (DESIGN §5). Each takes a list of instance ids so one execution fixes a
// batch: StartAutomationExecution is limited to 1 TPS per account-region.
const (
	DocSetMetadataOptions         = "FleetDoctor-SetMetadataOptions"
	DocAttachInstanceProfile      = "FleetDoctor-AttachInstanceProfile"
	DocEnableDHMC                 = "FleetDoctor-EnableDHMC"
	DocSetAccountMetadataDefaults = "FleetDoctor-SetAccountMetadataDefaults"
)

// Automatic remediations shared by several checks.
var (
	remEnableEndpoint  = Remediation{ID: "imds_enable_endpoint", Automatic: true, Document: DocSetMetadataOptions}
	remRequireTokens   = Remediation{ID: "imds_require_tokens", Automatic: true, Document: DocSetMetadataOptions}
	remSetHopLimit     = Remediation{ID: "imds_set_hop_limit", Automatic: true, Document: DocSetMetadataOptions}
	remAccountDefaults = Remediation{ID: "imds_account_defaults", Automatic: true, Document: DocSetAccountMetadataDefaults}
	remAttachProfile   = Remediation{ID: "iam_attach_instance_profile", Automatic: true, Document: DocAttachInstanceProfile}
	remEnableDHMC      = Remediation{ID: "dhmc_enable", Automatic: true, Document: DocEnableDHMC}
)

// manualAgentUpdate is how an outdated SSM agent gets updated. fleetdoctor
// has no runbook for it: updating an agent restarts it, and the agents that
// most need it are the ones that cannot take commands.
const manualAgentUpdate = "Update the SSM agent: run AWS-UpdateSSMAgent through Run Command (or a State Manager " +
	"association with auto-update) where the agent is online, or reinstall it from the AMI / user data where it is " +
	"not. fleetdoctor does not update agents itself because an update restarts the agent it would act through."
