"""chaos-lab's policy rules, one validator per rule; `POLICIES` is what the pack enforces.

Imported as `rules` when the CLI runs the pack (policy/ is then on sys.path) and as `policy.rules`
by the tests, so modules here import each other relatively.
"""

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from .chaos import (
    chaos_duration_bounded,
    chaos_kinds_allowed,
    chaos_schedules_bounded,
    chaos_selectors_fenced,
    chaos_status_checks_fenced,
    pod_kill_needs_replicas,
)
from .chaos_mesh_release import chaos_mesh_release_fenced
from .fis import fis_durations_bounded, fis_role_trust_pinned, fis_stop_conditions_required, fis_targets_scoped
from .iam import web_identity_trust_exact, web_identity_trust_pinned
from .production import production_no_scheduled_chaos, production_on_demand_nodes
from .rbac import rbac_least_privilege, rbac_no_broad_bindings, rbac_no_escalation_paths

POLICIES: tuple[ResourceValidationPolicy | StackValidationPolicy, ...] = (
    chaos_kinds_allowed,
    chaos_duration_bounded,
    chaos_selectors_fenced,
    chaos_status_checks_fenced,
    chaos_schedules_bounded,
    pod_kill_needs_replicas,
    chaos_mesh_release_fenced,
    rbac_least_privilege,
    rbac_no_escalation_paths,
    rbac_no_broad_bindings,
    web_identity_trust_pinned,
    web_identity_trust_exact,
    fis_stop_conditions_required,
    fis_targets_scoped,
    fis_durations_bounded,
    fis_role_trust_pinned,
    production_on_demand_nodes,
    production_no_scheduled_chaos,
)
