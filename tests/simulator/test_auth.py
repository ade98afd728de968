"""Bearer auth, the OAuth2 token endpoint (codes, rotation, expiry) and revocation."""

import pytest
import requests


def _get(sim, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{sim.base_url}/api/v4/leads", headers=headers, params={"limit": 1}, timeout=10)


def _token(sim, **fields):
    body = {"client_id": sim.oauth.client_id, "client_secret": sim.oauth.client_secret,
            "redirect_uri": sim.oauth.redirect_uri, **fields}
    return requests.post(f"{sim.base_url}/oauth2/access_token", json=body, timeout=10)


def test_missing_or_invalid_token_is_401_problem_json(sim):
    for token in (None, "not-a-token"):
        response = _get(sim, token)
        assert response.status_code == 401
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["status"] == 401 and response.json()["title"] == "Unauthorized"
    response = requests.get(f"{sim.base_url}/api/v4/leads", headers={"Authorization": sim.long_lived_token}, timeout=10)
    assert response.status_code == 401  # no "Bearer " scheme


def test_long_lived_token_works_and_does_not_expire(fresh_sim):
    assert _get(fresh_sim, fresh_sim.long_lived_token).status_code == 200
    fresh_sim.clock.advance(days=59)
    assert _get(fresh_sim, fresh_sim.long_lived_token).status_code == 200


def test_authorization_code_exchange_is_single_use(sim):
    code = sim.issue_authorization_code()
    response = _token(sim, grant_type="authorization_code", code=code)
    assert response.status_code == 200
    pair = response.json()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 86_400 and pair["server_time"] == sim.clock.now
    assert pair["access_token"].count(".") == 2 and pair["refresh_token"]
    assert _get(sim, pair["access_token"]).status_code == 200
    again = _token(sim, grant_type="authorization_code", code=code)
    assert again.status_code == 400
    assert again.json()["hint"] == "Authorization code has been revoked"
    assert again.json()["type"].endswith("OAuthProblemJson")


def test_authorization_code_expires_after_20_minutes(fresh_sim):
    code = fresh_sim.issue_authorization_code()
    fresh_sim.clock.advance(minutes=21)
    response = _token(fresh_sim, grant_type="authorization_code", code=code)
    assert response.status_code == 400 and response.json()["hint"] == "Authorization code has expired"


def test_refresh_rotates_and_old_refresh_token_is_rejected(sim):
    first = sim.issue_refresh_token()
    response = _token(sim, grant_type="refresh_token", refresh_token=first)
    assert response.status_code == 200
    second = response.json()["refresh_token"]
    assert second != first
    reused = _token(sim, grant_type="refresh_token", refresh_token=first)
    assert reused.status_code == 400 and reused.json()["hint"]
    third = _token(sim, grant_type="refresh_token", refresh_token=second)
    assert third.status_code == 200 and _get(sim, third.json()["access_token"]).status_code == 200


def test_form_encoded_body_is_accepted(sim):
    response = requests.post(f"{sim.base_url}/oauth2/access_token", timeout=10, data={
        "client_id": sim.oauth.client_id, "client_secret": sim.oauth.client_secret, "redirect_uri": sim.oauth.redirect_uri,
        "grant_type": "refresh_token", "refresh_token": sim.issue_refresh_token()})
    assert response.status_code == 200 and response.json()["access_token"]


def test_bad_client_credentials_are_400_with_hint(sim):
    code = sim.issue_authorization_code()
    for override, hint in (({"client_id": "x"}, "client_id"), ({"client_secret": "x"}, "client_secret"),
                           ({"redirect_uri": "https://elsewhere"}, "Redirect URI")):
        response = _token(sim, grant_type="authorization_code", code=code, **override)
        assert response.status_code == 400 and hint in response.json()["hint"]
    assert _token(sim, grant_type="authorization_code", code="garbage").json()["hint"] == \
        "Cannot decrypt the authorization code"


def test_access_token_expires_on_the_simulated_clock(account):
    from pipelines.simulator import Simulator

    with Simulator(account, rate_limit=None, access_token_ttl=3600) as sim:
        pair = _token(sim, grant_type="refresh_token", refresh_token=sim.issue_refresh_token()).json()
        assert pair["expires_in"] == 3600
        sim.clock.advance(minutes=59)
        assert _get(sim, pair["access_token"]).status_code == 200
        sim.clock.advance(minutes=1)
        assert _get(sim, pair["access_token"]).status_code == 401
        renewed = _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"])
        assert _get(sim, renewed.json()["access_token"]).status_code == 200


def test_revoke_kills_every_token(sim):
    pair = _token(sim, grant_type="refresh_token", refresh_token=sim.issue_refresh_token()).json()
    old_long_lived = sim.long_lived_token
    sim.revoke_tokens()
    assert _get(sim, pair["access_token"]).status_code == 401
    assert _get(sim, old_long_lived).status_code == 401
    assert _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 400
    assert _get(sim, sim.long_lived_token).status_code == 200  # an admin issued a new key


def test_tokens_of_a_non_admin_install_cannot_list_users(sim):
    from pipelines.simulator import reference as ref

    manager = next(u for u in ref.USERS if not u.is_admin and u.is_active)
    code = sim.issue_authorization_code(user_id=manager.id)
    pair = _token(sim, grant_type="authorization_code", code=code).json()
    renewed = _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()  # rights stay

    def users(token):
        return requests.get(f"{sim.base_url}/api/v4/users", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    for token in (pair["access_token"], renewed["access_token"]):
        assert _get(sim, token).status_code == 200
        forbidden = users(token)
        assert forbidden.status_code == 403
        assert forbidden.headers["Content-Type"].startswith("application/problem+json")
        assert forbidden.json()["status"] == 403
    assert users(sim.long_lived_token).status_code == 200  # the key of the admin who installed it
    admin_pair = _token(sim, grant_type="authorization_code", code=sim.issue_authorization_code()).json()
    assert users(admin_pair["access_token"]).status_code == 200


def test_a_lost_answer_still_spends_the_grant(sim):
    """`lose_next_answers`: the grant is spent, then the answer is dropped or comes after the client gave up."""
    dropped, slow = sim.issue_refresh_token(), sim.issue_refresh_token()
    sim.tokens.lose_next_answers("drop")
    with pytest.raises(requests.ConnectionError):
        _token(sim, grant_type="refresh_token", refresh_token=dropped)
    sim.tokens.lose_next_answers("slow", seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{sim.base_url}/oauth2/access_token", timeout=0.2, json={
            "client_id": sim.oauth.client_id, "client_secret": sim.oauth.client_secret,
            "redirect_uri": sim.oauth.redirect_uri, "grant_type": "refresh_token", "refresh_token": slow})
    for token in (dropped, slow):
        assert "revoked" in _token(sim, grant_type="refresh_token", refresh_token=token).json()["hint"]
    assert sim.tokens.presented == [dropped, slow, dropped, slow]
