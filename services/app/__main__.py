from services.app.service import build_service
from shared.service import serve

serve(build_service())
