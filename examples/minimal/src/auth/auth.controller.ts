import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  Post,
} from '@nestjs/common';
import { AuthService } from './auth.service';
import { Public } from './public.decorator';

const USERNAME = /^[a-z0-9_.-]{3,64}$/;
const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;

/** `{ username, password }`, checked by hand to keep the example's dependencies few. */
function credentials(body: unknown): { username: string; password: string } {
  const { username, password } = (body ?? {}) as Record<string, unknown>;
  if (typeof username !== 'string' || !USERNAME.test(username))
    throw new BadRequestException(
      'username: 3 to 64 of a-z, 0-9, "_", "." and "-"',
    );
  if (
    typeof password !== 'string' ||
    password.length < MIN_PASSWORD ||
    password.length > MAX_PASSWORD
  )
    throw new BadRequestException(
      `password: ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`,
    );
  return { username, password };
}

@Controller()
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Public()
  @Post('register')
  register(@Body() body: unknown) {
    const { username, password } = credentials(body);
    return this.auth.register(username, password);
  }

  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: unknown) {
    const { username, password } = credentials(body);
    return { token: await this.auth.login(username, password) };
  }
}
