"""The notes service API: create and list notes. No authentication yet."""

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI(title="Notes", version="0.1.0")
_NOTES: dict[int, dict[str, str]] = {}


class NoteIn(BaseModel):
    title: str
    body: str = ""


@app.post("/notes", status_code=201)
async def create_note(note: NoteIn) -> dict[str, object]:
    note_id = len(_NOTES) + 1
    _NOTES[note_id] = note.model_dump()
    return {"id": note_id, **_NOTES[note_id]}


@app.get("/notes/{note_id}")
async def get_note(note_id: int) -> dict[str, object]:
    if note_id not in _NOTES:
        raise HTTPException(status_code=404, detail="note not found")
    return {"id": note_id, **_NOTES[note_id]}


def run() -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
