# Deployment checks: every kustomization under deploy/k8s rendered with
# kubectl kustomize and validated against the Kubernetes schemas and the
# Prometheus Operator CRD schemas (vendored in tests/deploy/crds; unknown fields
# rejected) plus the project's rules; deploy/compose.yaml, the root Dockerfile
# and .dockerignore checked too. Skipped (77) without node/npm or kubectl/kustomize.
add_test(NAME deploy_manifests COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/deploy/run_validate.sh)
set_tests_properties(deploy_manifests PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "deploy")
