from fastapi.testclient import TestClient

from app.main import app


def test_create_then_get_note() -> None:
    client = TestClient(app)
    created = client.post("/notes", json={"title": "hello"}).json()
    assert client.get(f"/notes/{created['id']}").json()["title"] == "hello"
